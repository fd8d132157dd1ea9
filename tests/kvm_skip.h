/* SPDX-License-Identifier: MIT */
/*
 * kvm_skip.h - the one rule for tests that need guest mode: skip, with the reason, where it
 * cannot run; never fall back to another backend silently.
 */
#ifndef SJMP_TEST_KVM_SKIP_H
#define SJMP_TEST_KVM_SKIP_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Skips the calling test where guest mode cannot run: no usable /dev/kvm, or a sanitizer
 * build (sjmp_enter refuses to run under a sanitizer runtime: docs/guest-mode.md). */
static inline void sjmp_test_require_kvm(void)
{
#ifdef SJMP_TEST_SANITIZED
	cr_skip_test("built with SJMP_SANITIZE: guest mode refuses to run under a sanitizer "
	             "runtime (sjmp_enter returns ENOTSUP); build without it to run this test");
#endif
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		cr_skip_test("/dev/kvm cannot be opened (%s): guest mode needs KVM",
		             strerror(errno));
	close(fd);
}

#endif
