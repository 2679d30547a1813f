/*
 * policy_claims.h - the policy header and token claims the policy tests
 * start from (test_policy, test_regex_must): a job of pipeline "api" on
 * branch main, step "migrate", organization "acme", audience "pg".
 */
#ifndef PB_TEST_POLICY_CLAIMS_H
#define PB_TEST_POLICY_CLAIMS_H

#define HDR "version: 1\ntoken:\n  audience: pg\n  organization: acme\n"

static const char base_claims[] =
    "{\"iss\": \"https://agent.buildkite.com\","
    " \"sub\": \"organization:acme:pipeline:api:ref:refs/heads/main:"
    "commit:abc:step:migrate\","
    " \"aud\": \"pg\", \"iat\": 1700000000, \"nbf\": 1700000000,"
    " \"exp\": 1700000300, \"organization_slug\": \"acme\","
    " \"pipeline_slug\": \"api\", \"build_number\": 42,"
    " \"build_branch\": \"main\", \"build_commit\": \"abc\","
    " \"step_key\": \"migrate\", \"job_id\": \"j-1\","
    " \"agent_id\": \"a-1\", \"build_source\": \"webhook\","
    " \"runner_environment\": \"buildkite-hosted\", \"jti\": \"t-1\"}";

#endif
