#!/bin/sh
# terraform validate and a mocked plan (terraform test) for every environment, offline, against the AWS provider in a local
# plugin directory (TF_PLUGIN_DIR, laid out as
# registry.terraform.io/hashicorp/aws/<version>/linux_amd64/terraform-provider-aws_v<version>_x5; by default
# ~/.terraform-providers, else /opt/tf-plugins when that holds one).
# Without that provider it says so and exits 0: fmt and the Go test still ran.
#
# The configuration needs provider 6.x. When the directory holds only a 5.x provider (5.100 is what some machines
# have), the check runs in a throwaway copy with the constraint relaxed and the few 6.x-only names written the 5.x
# way (data.aws_region's region → name, aws_instance's primary_network_interface → network_interface at device 0);
# it says so, and the checked-in files are not touched.
set -eu
cd "$(dirname "$0")"
tf=${TERRAFORM:-terraform}
dir=${TF_PLUGIN_DIR:-}
if [ -z "$dir" ]; then
  dir=$HOME/.terraform-providers
  if ! ls "$dir"/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_* >/dev/null 2>&1 &&
    ls /opt/tf-plugins/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_* >/dev/null 2>&1; then
    dir=/opt/tf-plugins
  fi
fi

if ! command -v "$tf" >/dev/null 2>&1; then
  echo "tf-check: terraform not found; install Terraform >= 1.11 (see README, Deploy to AWS)" >&2
  exit 1
fi
if ! ls "$dir"/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_* >/dev/null 2>&1; then
  echo "tf-check: SKIPPED terraform validate: no AWS provider under $dir/registry.terraform.io/hashicorp/aws/."
  echo "tf-check: build one from the Go module proxy and place it there (README, Deploy to AWS), or set TF_PLUGIN_DIR."
  exit 0
fi

root=.
copy=""
if ! ls -d "$dir"/registry.terraform.io/hashicorp/aws/[6-9].* >/dev/null 2>&1; then
  version=$(basename "$(ls -d "$dir"/registry.terraform.io/hashicorp/aws/* | tail -n 1)")
  echo "tf-check: only AWS provider $version under $dir: checking a copy written for 5.x (not the files themselves)"
  copy=$(mktemp -d)
  cp -R modules environments "$copy"/
  rm -rf "$copy"/environments/*/.terraform "$copy"/environments/*/.terraform.lock.hcl
  find "$copy" -name '*.tf' -o -name '*.tftest.hcl' | while read -r f; do
    sed -i -e 's/version *= *">= 6.0, < 7.0"/version = ">= 5.0"/' -e 's/version *= *">= 6.0"/version = ">= 5.0"/' \
      -e 's/\(data\.aws_region\.[a-z_]*\)\.region/\1.name/g' \
      -e 's/defaults = { region = "\([a-z0-9-]*\)" }/defaults = { name = "\1" }/' "$f"
  done
  perl -0pi -e 's/primary_network_interface \{\n(\s*)network_interface_id = ([^\n]+)\n/network_interface {\n$1device_index         = 0\n$1network_interface_id = $2\n/' "$copy"/modules/bus/main.tf
  root=$copy
fi

status=0
for env in "$root"/environments/*/; do
  env=${env%/}
  name=environments/$(basename "$env")
  data=$(mktemp -d)
  had_lock=no
  [ -e "$env/.terraform.lock.hcl" ] && had_lock=yes
  echo "tf-check: terraform validate $name"
  if TF_DATA_DIR=$data "$tf" -chdir="$env" init -input=false -backend=false -plugin-dir="$dir" >"$data/init.log" 2>&1; then
    TF_DATA_DIR=$data "$tf" -chdir="$env" validate -no-color || status=1
    # A plan against a mocked provider (tests/*.tftest.hcl): expressions evaluate,
    # templates render, no cycles; with and without custom domains.
    TF_DATA_DIR=$data "$tf" -chdir="$env" test -no-color || status=1
  else
    cat "$data/init.log" >&2
    status=1
  fi
  rm -rf "$data"
  [ $had_lock = yes ] || rm -f "$env/.terraform.lock.hcl"
done
[ -z "$copy" ] || rm -rf "$copy"
exit $status
