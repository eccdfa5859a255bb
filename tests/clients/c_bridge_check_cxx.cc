// The C bridge check, compiled as C++: stdmpi.h must work from both.
#include "c_bridge_check.c"
