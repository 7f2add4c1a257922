#!/usr/bin/env bash
# Publish an ECS deploy or rollback from any CI system (Jenkins, GitLab CI, GitHub Actions, CircleCI...).
# Configuration comes from the environment so CI jobs only set variables; extra arguments pass through.
#
#   APP_DEPLOY_TOPIC_ARN   deploy topic in the workload account (required)
#   APP_DEPLOY_ROLE_ARN    publisher role in the CI account (required)
#   APP_DEPLOY_EXTERNAL_ID external id of the publisher role's trust (read by the CLI, kept off argv)
#   ECS_CLUSTER, ECS_SERVICE   target service (required)
#   IMAGE                  image repository without tag (deploy)
#   IMAGE_TAG              image tag (deploy; default: the short commit id of the checkout)
#   APP_DEPLOY_ENDPOINT_URL  optional endpoint for every AWS call (a local emulator)
#   APP_DEPLOY_PYTHON      interpreter with boto3 (default: python3)
#
# Usage: app-deploy.sh deploy [--container NAME] | app-deploy.sh rollback [--revision N]
set -euo pipefail

usage() {
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
}

need() {  # need VAR HINT: exit 2 (bad input) when VAR is unset or empty
    if [[ -z "${!1:-}" ]]; then
        echo "error: $1 is not set: $2" >&2
        exit 2
    fi
}

action="${1:-}"
if [[ "$action" != "deploy" && "$action" != "rollback" ]]; then
    usage
    exit 2
fi
shift

need APP_DEPLOY_TOPIC_ARN "the deploy topic ARN in the workload account"
need APP_DEPLOY_ROLE_ARN "the publisher role ARN in the CI account"
need ECS_CLUSTER "the ECS cluster name"
need ECS_SERVICE "the ECS service name"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYTHONPATH="${repo_root}${PYTHONPATH:+:${PYTHONPATH}}"

args=(--topic-arn "$APP_DEPLOY_TOPIC_ARN" --role-arn "$APP_DEPLOY_ROLE_ARN"
      --cluster "$ECS_CLUSTER" --service "$ECS_SERVICE")
if [[ -n "${APP_DEPLOY_ENDPOINT_URL:-}" ]]; then
    args+=(--endpoint-url "$APP_DEPLOY_ENDPOINT_URL")
fi
if [[ "$action" == "deploy" ]]; then
    need IMAGE "the image repository, without tag"
    tag="${IMAGE_TAG:-$(git rev-parse --short=7 HEAD)}"
    args+=(--image "$IMAGE" --tag "$tag")
fi

exec "${APP_DEPLOY_PYTHON:-python3}" -m pipeline.app_deploy "$action" "${args[@]}" "$@"
