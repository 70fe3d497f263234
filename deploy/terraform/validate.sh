#!/bin/sh
# terraform validate and a mocked plan (terraform test) for every environment, offline, against the AWS provider in a local
# plugin directory (TF_PLUGIN_DIR, laid out as
# registry.terraform.io/hashicorp/aws/<version>/linux_amd64/terraform-provider-aws_v<version>_x5).
# Without that provider it says so and exits 0: fmt and the Go test still ran.
set -eu
cd "$(dirname "$0")"
tf=${TERRAFORM:-terraform}
dir=${TF_PLUGIN_DIR:-$HOME/.terraform-providers}

if ! command -v "$tf" >/dev/null 2>&1; then
  echo "tf-check: terraform not found; install Terraform >= 1.11 (see README, Deploy to AWS)" >&2
  exit 1
fi
if ! ls "$dir"/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_* >/dev/null 2>&1; then
  echo "tf-check: SKIPPED terraform validate: no AWS provider under $dir/registry.terraform.io/hashicorp/aws/."
  echo "tf-check: build one from the Go module proxy and place it there (README, Deploy to AWS), or set TF_PLUGIN_DIR."
  exit 0
fi

status=0
for env in environments/*/; do
  env=${env%/}
  data=$(mktemp -d)
  had_lock=no
  [ -e "$env/.terraform.lock.hcl" ] && had_lock=yes
  echo "tf-check: terraform validate $env"
  if TF_DATA_DIR=$data "$tf" -chdir="$env" init -input=false -backend=false -plugin-dir="$dir" >"$data/init.log" 2>&1; then
    TF_DATA_DIR=$data "$tf" -chdir="$env" validate -no-color || status=1
    # A plan against a mocked provider (tests/*.tftest.hcl): expressions evaluate,
    # templates render, no cycles.
    TF_DATA_DIR=$data "$tf" -chdir="$env" test -no-color || status=1
  else
    cat "$data/init.log" >&2
    status=1
  fi
  rm -rf "$data"
  [ $had_lock = yes ] || rm -f "$env/.terraform.lock.hcl"
done
exit $status
