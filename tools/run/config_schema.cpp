// The one table of config keys (DESIGN.md §5): each key's default, kind,
// valid range and help. A value outside its range is refused when it is set
// (file, environment, --set or a [grid] list), naming the key, the value and
// the range, so nothing downstream sees epochs = -3 or threads = -2.
#include <limits>

#include "config.h"

namespace stride::tools {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Integer keys the run keeps in an int.
constexpr double kIntMax = std::numeric_limits<int>::max();

constexpr Bounds at_least(double low) { return {low, kInf, false, false}; }
constexpr Bounds above(double low) { return {low, kInf, true, false}; }
constexpr Bounds between(double low, double high) { return {low, high, false, false}; }
constexpr Bounds from_below(double low, double high) { return {low, high, false, true}; }  // [low, high)
constexpr Bounds inside(double low, double high) { return {low, high, true, true}; }  // (low, high)

using K = ValueKind;

// clang-format off
constexpr KeySpec kSchema[] = {
    {"experiment.name", "", K::name, "experiment the trial belongs to (default: the config file's name)"},
    {"experiment.seed", "42", K::integer, "seeds weights, data order, augmentation and dropout", at_least(0)},

    {"data.dir", "data/fashion-mnist", K::text, "prepared dataset directory (stride prepare --out)"},
    {"data.batch_size", "32", K::integer, "images per step on each rank", at_least(1)},
    {"data.limit", "0", K::integer, "> 0: use only the first N training images", at_least(0)},
    {"data.workers", "2", K::integer, "loader threads decoding and augmenting", between(1, 256)},
    {"data.prefetch", "4", K::integer, "ready batches queued ahead of training", between(1, kIntMax)},
    {"data.drop_last", "false", K::boolean, "skip the last partial batch of an epoch"},
    {"data.tail", "", K::text, "keep | drop | pad: what the last partial batch does (overrides drop_last)"},
    {"data.shuffle_window", "16384", K::integer, "images shuffled together", at_least(1)},
    {"data.eval_batch_size", "256", K::integer, "images per evaluation step", at_least(1)},

    {"augment.crop_padding", "0", K::integer, "random crop after padding by this many pixels", between(0, 4096)},
    {"augment.pad_mode", "reflect", K::text, "reflect | zero"},
    {"augment.hflip", "false", K::boolean, "random horizontal flip"},
    {"augment.rotate_deg", "0", K::real, "random rotation in [-r, r] degrees", between(0, 180)},
    {"augment.zoom", "0", K::real, "random zoom in [1-z, 1+z]", from_below(0, 1)},
    {"augment.translate", "0", K::real, "random shift in [-t, t] of the size", between(0, 1)},
    {"augment.cutout", "0", K::real, "erase a square of this fraction of the size (p = 0.5)", between(0, 1)},
    {"augment.normalize", "true", K::boolean, "per-channel (x - mean) / std with the train statistics"},

    {"model.layers", "", K::text, "layer spec, e.g. conv(32,3) relu maxpool(2) flatten dense(10)"},
    {"model.arch", "", K::text, "named architecture: seed_cnn | vgg_bn | resnet9"},
    {"model.input_shape", "", K::text, "HxWxC the model takes (checked against the data; default: the data's)"},
    {"model.init_from", "", K::text, "checkpoint whose weights initialise the matching layers (fine-tuning)"},
    {"model.init_layers", "-1", K::integer, "how many leading layers to take from init_from (-1: all that match)", at_least(-1)},
    {"model.freeze", "", K::text, "N (first N layers) | all_but_head: layers not trained"},
    {"model.unfreeze_epoch", "-1", K::integer, ">= 0: train every layer from this epoch on", at_least(-1)},

    {"train.epochs", "10", K::integer, "epochs to train", at_least(1)},
    {"train.optimizer", "adam", K::text, "adam | adamw | sgd"},
    {"train.lr", "0.001", K::real, "learning rate (for the global batch after lr_scaling)", above(0)},
    {"train.beta1", "0.9", K::real, "Adam beta1", from_below(0, 1)},
    {"train.beta2", "0.999", K::real, "Adam beta2", from_below(0, 1)},
    {"train.epsilon", "1e-7", K::real, "Adam epsilon (Keras' default)", above(0)},
    {"train.momentum", "0", K::real, "SGD momentum", from_below(0, 1)},
    {"train.nesterov", "false", K::boolean, "SGD Nesterov momentum"},
    {"train.weight_decay", "0", K::real, "L2 (adam, sgd) or decoupled (adamw) weight decay", at_least(0)},
    {"train.clip_norm", "0", K::real, "> 0: clip the global gradient norm", at_least(0)},
    {"train.schedule", "constant", K::text, "constant | step | cosine | onecycle"},
    {"train.warmup_epochs", "0", K::real, "linear warmup", at_least(0)},
    {"train.step_epochs", "10", K::real, "step schedule: epochs between decays", above(0)},
    {"train.gamma", "0.1", K::real, "step schedule: decay factor", above(0)},
    {"train.min_lr", "0", K::real, "cosine schedule: final learning rate", at_least(0)},
    {"train.label_smoothing", "0", K::real, "label smoothing of the cross-entropy", from_below(0, 1)},
    {"train.lr_scaling", "none", K::text, "none | linear: multiply lr by the number of ranks"},
    {"train.threads", "0", K::integer, "CPU threads per rank (0: all cores / ranks on the node)", between(0, 4096)},
    {"train.device", "cpu", K::text, "cpu | cuda"},
    {"train.precision", "fp32", K::text, "fp32 | tf32 | bf16: conv/dense arithmetic (tf32 and bf16: CUDA)"},
    {"train.deterministic", "false", K::boolean, "CUDA: bit-reproducible algorithms, no autotuning"},
    {"train.checkpoint_dir", "runs/checkpoints", K::text, "where checkpoints are written"},
    {"train.bucket_mb", "25", K::real, "gradient all-reduce bucket size in MiB", inside(0, 65536)},
    {"train.sync_bn", "false", K::boolean, "batch norm over the global batch of all ranks (else each rank's own)"},
    {"train.collective_timeout", "120", K::real, "seconds a collective may wait before the job aborts (0: forever)",
     at_least(0), "STRIDE_COLLECTIVE_TIMEOUT"},

    {"early_stopping.monitor", "val_loss", K::text, "metric watched"},
    {"early_stopping.mode", "auto", K::text, "min | max | auto"},
    {"early_stopping.min_delta", "0", K::real, "smallest change that counts as improvement"},
    {"early_stopping.patience", "", K::integer, "epochs without improvement before stopping (unset: off)", at_least(0)},
    {"early_stopping.baseline", "", K::real, "value the metric must beat"},
    {"early_stopping.start_from_epoch", "0", K::integer, "epochs before checks begin", at_least(0)},
    {"early_stopping.restore_best", "false", K::boolean, "restore the best weights at the end"},

    {"reduce_lr.monitor", "val_loss", K::text, "metric watched"},
    {"reduce_lr.mode", "auto", K::text, "min | max | auto"},
    {"reduce_lr.factor", "0.1", K::real, "lr multiplier", inside(0, 1)},
    {"reduce_lr.patience", "", K::integer, "epochs without improvement before reducing (unset: off)", at_least(0)},
    {"reduce_lr.min_delta", "0.0001", K::real, "smallest change that counts as improvement", at_least(0)},
    {"reduce_lr.cooldown", "0", K::integer, "epochs to wait after a reduction", at_least(0)},
    {"reduce_lr.min_lr", "0", K::real, "lower bound on lr", at_least(0)},
};
// clang-format on

}  // namespace

std::span<const KeySpec> config_schema() { return kSchema; }

}  // namespace stride::tools
