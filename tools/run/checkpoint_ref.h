// Checkpoint arguments may name a trial instead of a file: best:EXPERIMENT or
// latest:EXPERIMENT (stride/tracker/pick.h), resolved through the store.
#pragma once

#include <string>

namespace stride {
class Communicator;
}
namespace stride::tracker {
class Store;
}

namespace stride::tools {

// Rank 0 resolves `reference` with `store` when it has one open, else the
// store at `db` (other ranks may not see that file); every rank gets its answer.
std::string resolve_checkpoint_on_leader(Communicator& communicator, const std::string& reference,
                                         const std::string& db, tracker::Store* store = nullptr);

}  // namespace stride::tools
