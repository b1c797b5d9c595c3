// Checkpoint arguments may name a trial instead of a file: best:EXPERIMENT or
// latest:EXPERIMENT (stride/tracker/pick.h), resolved through the store.
#pragma once

#include <string>

namespace stride {
class Communicator;
}

namespace stride::tools {

// Rank 0 resolves `reference` with the store at `db` (other ranks may not see
// that file) and every rank gets its answer.
std::string resolve_checkpoint_on_leader(Communicator& communicator, const std::string& reference,
                                         const std::string& db);

}  // namespace stride::tools
