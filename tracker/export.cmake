# The exporters of stride_tracker (MLflow's file store, TensorBoard event
# files) and the check for tables other programs added to a store: yaml-cpp
# writes MLflow's YAML; protoc compiles the Event/Summary subset of
# TensorBoard's format (proto/) and libprotobuf encodes it.
find_package(yaml-cpp REQUIRED CONFIG)
find_package(Protobuf REQUIRED)

# Generated code, compiled without our warning flags.
add_library(stride_tensorboard_proto OBJECT proto/tensorboard_event.proto)
protobuf_generate(TARGET stride_tensorboard_proto LANGUAGE cpp IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR}
                  PROTOC_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
target_include_directories(stride_tensorboard_proto SYSTEM PUBLIC ${CMAKE_CURRENT_BINARY_DIR}
                           ${CMAKE_CURRENT_BINARY_DIR}/proto)
target_link_libraries(stride_tensorboard_proto PUBLIC protobuf::libprotobuf)

target_sources(stride_tracker PRIVATE src/export_util.cpp src/export_mlflow.cpp src/export_tensorboard.cpp
                                      src/foreign.cpp)
target_link_libraries(stride_tracker PRIVATE stride_tensorboard_proto yaml-cpp Boost::headers)
