// The communicator the MPI suites share (made once in main: MPI cannot be
// initialised twice in one process).
#pragma once

#include "stride/distributed/communicator.h"

namespace stride::testing {

extern Communicator* g_comm;

}  // namespace stride::testing
