// Catch2's main for every warren test executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
