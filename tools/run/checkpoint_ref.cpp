// best:/latest: checkpoint references across the ranks of a job.
#include "checkpoint_ref.h"

#include <cstdint>

#include "stride/distributed/communicator.h"
#include "stride/tracker/pick.h"

namespace stride::tools {

std::string resolve_checkpoint_on_leader(Communicator& communicator, const std::string& reference,
                                         const std::string& db, tracker::Store* store) {
  std::string path;
  if (communicator.rank() == 0)
    path = store ? tracker::resolve_checkpoint(reference, *store) : tracker::resolve_checkpoint(reference, db);
  if (communicator.size() == 1) return path;
  uint64_t size = path.size();
  communicator.broadcast_bytes(&size, sizeof size, 0);
  path.resize(size);
  if (size > 0) communicator.broadcast_bytes(path.data(), size, 0);
  return path;
}

}  // namespace stride::tools
