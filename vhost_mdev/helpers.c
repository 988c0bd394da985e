#include "../kglue/helpers.c"
