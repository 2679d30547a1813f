#!/bin/sh
# test_policy_compiled.sh - test_policy once more with every policy that
# parses compiled first (pam-buildkite compile) and read back from its
# snapshot, so each decision, setting and trace case holds for the
# snapshot as for the YAML.
TEST_POLICY_COMPILED=1 exec "${top_builddir:-.}/tests/test_policy"
