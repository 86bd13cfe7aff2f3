/* frost-exec: the exec helper as its own small, static binary. Starting the
 * full frost binary costs ~7 ms of dynamic linking (40 libraries) on every
 * instance start; this needs only libc. Same arguments as `frost __exec`. */
#include "runtime/exec.h"

int main(int argc, char **argv)
{
    return rt_exec_main(argc, argv);
}
