# pb_macros.m4 - small configure helpers of pam_buildkite.

# PB_REQUIRE_PKG(VAR, MODULE, DEBIAN-PACKAGE)
# pkg-config check that fails with the package to install.
AC_DEFUN([PB_REQUIRE_PKG], [
	PKG_CHECK_MODULES([$1], [$2], [],
		[AC_MSG_ERROR([$2 not found: install $3 (apt-get install $3)])])
])

# PB_CFLAGS_IF_SUPPORTED(VAR, FLAGS)
# Appends to VAR each of FLAGS the C compiler accepts without warning.
AC_DEFUN([PB_CFLAGS_IF_SUPPORTED], [
	for pb_flag in m4_normalize([$2]); do
		AC_MSG_CHECKING([whether $CC accepts $pb_flag])
		pb_save_CFLAGS="$CFLAGS"
		CFLAGS="$CFLAGS -Werror $pb_flag"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
			[$1="$$1 $pb_flag"; AC_MSG_RESULT([yes])],
			[AC_MSG_RESULT([no])])
		CFLAGS="$pb_save_CFLAGS"
	done
])
