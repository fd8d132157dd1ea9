// The public header must compile as C++ (extern "C", no C-only constructs): this file is built
// with the tests, so a header that breaks C++ users breaks the build.
#include <sjmp.h>

int main()
{
	sjmp_vh_t vh = SJMP_PRIMARY;
	return sjmp_vas_current() == vh ? 0 : 1;
}
