# Runs one fault scenario under mpirun and checks the job ends (exit code not
# 0) within LIMIT seconds with output matching EXPECT.
#   cmake -DMPIEXEC=mpirun -DEXE=distributed_fault_scenario -DSCENARIO=skip
#         -DEXPECT=regex -DLIMIT=60 -DTIMEOUT=3 [-DMPI_ARGS=a;b] -P run_fault.cmake
set(ENV{STRIDE_COLLECTIVE_TIMEOUT} ${TIMEOUT})
set(ENV{OMPI_ALLOW_RUN_AS_ROOT} 1)
set(ENV{OMPI_ALLOW_RUN_AS_ROOT_CONFIRM} 1)
string(TIMESTAMP start "%s")
execute_process(COMMAND ${MPIEXEC} -np 2 --oversubscribe ${MPI_ARGS} ${EXE} ${SCENARIO}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT ${LIMIT})
string(TIMESTAMP stop "%s")
math(EXPR elapsed "${stop} - ${start}")
message(STATUS "scenario ${SCENARIO}: exit '${rc}' after ${elapsed} s\n${out}${err}")
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "scenario ${SCENARIO}: the job did not end within ${LIMIT} s (${rc})")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "scenario ${SCENARIO}: the job exited 0; a failed job must not")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "scenario ${SCENARIO}: no line matching '${EXPECT}' in the output")
endif()
