// The experiment config and the layer spec: the input is an INI file. It is
// loaded against the schema, decoded into RunSettings as every run does first,
// and its model spec (layers or arch) parsed and given shapes for its
// input_shape (or Fashion-MNIST's), as `stride summary` does, without
// allocating the model.
#include <string>

#include "fuzz_support.h"
#include "run/config.h"
#include "run/session.h"
#include "run/settings.h"
#include "stride/core/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stride;
  const std::string text(reinterpret_cast<const char*>(data), size);
  return fuzz::run_expecting_stride_errors([&] {
    const tools::Config config = tools::Config::from_text(text, "fuzz.ini");
    (void)tools::decode_settings(config);
    (void)config.to_ini();
    (void)config.identity_params();
    const std::string spec = tools::model_spec(config, 10);
    const Shape input = config.has("model.input_shape")
                            ? tools::parse_image_shape(config.text("model.input_shape"), "model.input_shape")
                            : Shape{28, 28, 1};
    Model model = Model::from_spec(spec, input);
    (void)model.parameter_count();
    (void)model.spec();
  });
}
