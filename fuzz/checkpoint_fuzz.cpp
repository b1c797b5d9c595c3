// Checkpoint reader: the input is a checkpoint file. Its attributes are read
// as `stride eval` / `predict` / `--resume` read them, the model it describes
// is built on the CPU backend (when its parameters fit in a few MiB: a larger
// claim is the config's bound to check, not this reader's) and its weights,
// optimizer state and best weights are loaded.
#include <memory>

#include "fuzz_support.h"
#include "stride/core/backend.h"
#include "stride/core/checkpoint.h"
#include "stride/core/model.h"
#include "stride/core/optimizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stride;
  static const std::unique_ptr<Backend> backend = make_cpu_backend(1);
  const auto path = (fuzz::scratch_dir() / "checkpoint.h5").string();
  fuzz::write_file(path, {data, size});
  return fuzz::run_expecting_stride_errors([&] {
    const CheckpointInfo info = read_checkpoint_info(path);
    Model model = Model::from_spec(info.model.spec, info.model.input);
    if (model.parameter_count() > (int64_t{1} << 20)) return;
    model.init(*backend, 0);
    load_model_state(path, model);
    if (info.has_optimizer) {
      for (const char* kind : {"adam", "sgd"}) {
        OptimizerConfig config;
        config.kind = kind;
        Optimizer optimizer(config, model);
        try {
          load_optimizer_state(path, optimizer);
        } catch (const CheckpointError&) {
        }
      }
    }
    if (info.has_best) {
      std::vector<StateEntry> best = model.state();
      load_best_state(path, *backend, best);
    }
  });
}
