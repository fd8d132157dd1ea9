/* SPDX-License-Identifier: MIT */
/* fault.c - guest exceptions and host holes become the signals the program would get natively. */
#include <signal.h>
#include <sys/syscall.h>

#include "sys_x86_64.h"
#include "vmm_internal.h"
#include "x86_64_hw.h"

int vmm_fault_signal(unsigned vec, uint64_t err, int *code)
{
	switch (vec) {
	case X86_VEC_DE:
		*code = FPE_INTDIV;
		return SIGFPE;
	case X86_VEC_OF:
		*code = SI_KERNEL;
		return SIGSEGV;
	case X86_VEC_MF:
	case X86_VEC_XM:
		*code = 0;
		return SIGFPE;
	case X86_VEC_DB:
		*code = TRAP_TRACE;
		return SIGTRAP;
	case X86_VEC_BP:
		*code = SI_KERNEL; /* Linux reports int3 as SI_KERNEL */
		return SIGTRAP;
	case X86_VEC_UD:
		*code = ILL_ILLOPN;
		return SIGILL;
	case X86_VEC_AC:
		*code = BUS_ADRALN;
		return SIGBUS;
	case X86_VEC_PF:
		*code = (err & X86_PF_P) ? SEGV_ACCERR : SEGV_MAPERR;
		return SIGSEGV;
	default: /* #GP, #NP, #SS, #TS, #BR ... */
		*code = SI_KERNEL;
		return SIGSEGV;
	}
}
