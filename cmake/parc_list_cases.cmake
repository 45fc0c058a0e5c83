# cmake -DBINARY=suite -DOUTPUT=file -P parc_list_cases.cmake: writes the
# suite's TEST names (`suite --list`) to file, for parc_test_cases.
execute_process(COMMAND ${BINARY} --list OUTPUT_VARIABLE names RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR names STREQUAL "")
  message(FATAL_ERROR "${BINARY} --list failed (${rc}) or listed no test")
endif()
file(WRITE ${OUTPUT} "${names}")
