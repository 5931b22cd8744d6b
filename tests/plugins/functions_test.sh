#!/usr/bin/env bash
# Tests berth's Dokku shell helpers (plugins/common/functions and
# plugins/common/property-functions) in isolation: temporary DOKKU_ROOT and
# DOKKU_LIB_ROOT, a stub `plugn`, exact stdout/stderr/exit status checks.
#
#   bash tests/plugins/functions_test.sh <path-to-plugins/common>
#
# Prints every failed check and exits 1 if there is any; prints a summary.
# shellcheck disable=SC2016 # the snippets are meant for the child bash
set -uo pipefail

if [[ $# -ne 1 || ! -f "$1/functions" || ! -f "$1/property-functions" ]]; then
  echo "usage: $0 <path-to-plugins/common>" >&2
  exit 2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/core/common" "$WORK/bin" "$WORK/root" "$WORK/lib"
cp "$1/functions" "$1/property-functions" "$WORK/core/common/"

# A stub plugn: `plugn trigger deployed-app-image-tag APP` prints the file
# $WORK/tag (when present) and exits with the number in $WORK/tag-status.
cat >"$WORK/bin/plugn" <<'STUB'
#!/usr/bin/env bash
[[ "$1 $2" == "trigger deployed-app-image-tag" ]] || exit 99
printf '%s\n' "$*" >>"$STUB_DIR/plugn.log"
[[ -f "$STUB_DIR/tag" ]] && cat "$STUB_DIR/tag"
exit "$(cat "$STUB_DIR/tag-status" 2>/dev/null || echo 0)"
STUB
chmod +x "$WORK/bin/plugn"

PASSED=0
FAILED=0
STATUS=0

# run SNIPPET [VAR=VALUE...]: runs SNIPPET in a fresh bash (clean
# environment plus the VARs) after it sourced both libraries. Sets STATUS;
# stdout and stderr land in $WORK/out and $WORK/err.
run() {
  local snippet="$1"
  shift
  env -i PATH="$WORK/bin:/usr/local/bin:/usr/bin:/bin" HOME="$WORK" LC_ALL=C \
    DOKKU_ROOT="$WORK/root" DOKKU_LIB_ROOT="$WORK/lib" \
    PLUGIN_CORE_AVAILABLE_PATH="$WORK/core" STUB_DIR="$WORK" "$@" \
    bash -c 'source "$PLUGIN_CORE_AVAILABLE_PATH/common/functions"
source "$PLUGIN_CORE_AVAILABLE_PATH/common/property-functions"
'"$snippet" >"$WORK/out" 2>"$WORK/err" </dev/null
  STATUS=$?
}

fail() {
  FAILED=$((FAILED + 1))
  printf 'FAIL: %s\n' "$1"
  shift
  local line
  for line in "$@"; do
    printf '      %s\n' "$line"
  done
}

# expect NAME STATUS STDOUT STDERR: the last run's exact results.
expect() {
  local name="$1" status="$2" stdout="$3" stderr="$4" ok=true
  if [[ "$STATUS" != "$status" ]]; then
    fail "$name: exit status" "expected $status, got $STATUS" "stderr: $(cat "$WORK/err")"
    ok=false
  fi
  if ! printf '%s' "$stdout" | cmp -s - "$WORK/out"; then
    fail "$name: stdout" "expected: $(printf '%q' "$stdout")" "got:      $(printf '%q' "$(cat "$WORK/out"; printf x)")"
    ok=false
  fi
  if ! printf '%s' "$stderr" | cmp -s - "$WORK/err"; then
    fail "$name: stderr" "expected: $(printf '%q' "$stderr")" "got:      $(printf '%q' "$(cat "$WORK/err"; printf x)")"
    ok=false
  fi
  if [[ "$ok" == true ]]; then
    PASSED=$((PASSED + 1))
  fi
}

# check NAME COMMAND...: a plain assertion on the test's side.
check() {
  local name="$1"
  shift
  if "$@"; then
    PASSED=$((PASSED + 1))
  else
    fail "$name" "failed: $*"
  fi
}

spaces() { printf '%*s' "$1" ''; }

BAD_NAME="App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens"

# ----- sourcing ----------------------------------------------------------------

run 'echo "$-" | grep -q e && shopt -qo pipefail && echo strict'
expect "sourcing turns on set -eo pipefail" 0 $'strict\n' ""

run 'set -u; dokku_log_info1_quiet hi; dokku_log_quiet x; fn-in-array a || true; is_number || echo no; get_app_container_ids; dokku_log_plugn_trigger; echo done'
expect "helpers work under set -u with missing arguments" 0 $'-----> hi\nx\nno\ndone\n' ""

run 'set +e; verify_app_name ghost; echo unreachable'
expect "dokku_log_fail exits even without set -e" 20 "" $' !     App ghost does not exist\n'

run 'echo hi' DOKKU_TRACE=1
check "DOKKU_TRACE turns on xtrace" grep -q 'echo hi' "$WORK/err"

# ----- output ------------------------------------------------------------------

run 'dokku_log_info1 hello   world; dokku_log_info2 "a  b"; dokku_log_verbose v; dokku_log_exclaim e; dokku_log_quiet -n; dokku_log_info1 -e'
expect "info1, info2, verbose, exclaim, quiet" 0 $'-----> hello world\n=====> a  b\n       v\n !     e\n-n\n-----> -e\n' ""

run 'dokku_log_info1_quiet a; dokku_log_info2_quiet b; dokku_log_verbose_quiet c; dokku_log_exclaim_quiet d; dokku_log_warn_quiet e; dokku_log_quiet f; dokku_col_log_info1_quiet g; dokku_col_log_info2_quiet h; dokku_col_log_msg_quiet i; echo after' DOKKU_QUIET_OUTPUT=1
expect "quiet variants print nothing when quiet, and return 0" 0 $'after\n' ""

run 'dokku_log_info1_quiet a; dokku_log_info2_quiet b; dokku_log_verbose_quiet c; dokku_log_warn_quiet d'
expect "quiet variants print when not quiet" 0 $'-----> a\n=====> b\n       c\n' $' !     d\n'

run 'dokku_log_warn careful; dokku_log_stderr plain text; echo "status $?"'
expect "warn and stderr go to stderr and succeed" 0 $'status 0\n' $' !     careful\nplain text\n'

run 'dokku_log_fail "it broke"; echo unreachable'
expect "dokku_log_fail exits 1" 1 "" $' !     it broke\n'

run 'dokku_log_fail it broke; echo unreachable' DOKKU_FAIL_EXIT_CODE=7
expect "dokku_log_fail honours DOKKU_FAIL_EXIT_CODE" 7 "" $' !     it broke\n'

run 'dokku_log_fail_quiet hidden; echo unreachable' DOKKU_QUIET_OUTPUT=1
expect "dokku_log_fail_quiet when quiet" 1 "" ""

run 'dokku_log_exit bye now; echo unreachable'
expect "dokku_log_exit prints to stderr and exits 0" 0 "" $'bye now\n'

run 'dokku_log_exit_quiet bye; echo unreachable' DOKKU_QUIET_OUTPUT=1
expect "dokku_log_exit_quiet when quiet" 0 "" ""

run 'dokku_log_event something happened; dokku_log_plugn_trigger post-deploy a b; echo ok'
expect "event and plugn-trigger logs are silent without DOKKU_TRACE" 0 $'ok\n' ""

run 'set +x; dokku_log_plugn_trigger post-deploy demo 5000' DOKKU_TRACE=1
check "plugn-trigger log under DOKKU_TRACE" grep -qxF 'INVOKED: post-deploy( demo 5000 )' "$WORK/err"

run 'dokku_col_log_info1 app web 1; dokku_col_log_info2 x; dokku_col_log_msg a b c d'
expect "columnar output" 0 \
  "-----> app$(spaces 15) web$(spaces 22) 1$(spaces 24) $(spaces 25)
=====> x$(spaces 17) $(spaces 25) $(spaces 25) $(spaces 25)
a$(spaces 25)b$(spaces 25)c$(spaces 25)d$(spaces 24)
" ""

# ----- app names -----------------------------------------------------------------

for name in demo a 0app my-app.example.com a--b; do
  run 'is_valid_app_name "$N" && echo valid' N="$name"
  expect "is_valid_app_name accepts $name" 0 $'valid\n' ""
done
for name in Demo -x .x a_b "a b" a/b "" 'a$(touch pwned)' 'ä'; do
  run 'is_valid_app_name "$N"; echo unreachable' N="$name"
  expect "is_valid_app_name refuses '$name'" 1 "" " !     $BAD_NAME
"
done
check "no command substitution ran" test ! -e "$WORK/pwned"

mkdir -p "$WORK/root/demo" "$WORK/root/old_style" "$WORK/root/zeta" "$WORK/root/.hidden" "$WORK/root/Upper"
touch "$WORK/root/afile"
ln -s "$WORK/root/demo" "$WORK/root/alias"

run 'verify_app_name demo && verify_app_name old_style && echo exists'
expect "verify_app_name: existing apps (legacy _ names too)" 0 $'exists\n' ""

run 'verify_app_name ghost; echo unreachable'
expect "verify_app_name: missing app exits 20" 20 "" $' !     App ghost does not exist\n'

run 'verify_app_name Bad; echo unreachable'
expect "verify_app_name: bad name exits 1" 1 "" " !     $BAD_NAME
"

run 'verify_app_name ../root; echo unreachable'
expect "verify_app_name: path-like name" 1 "" " !     $BAD_NAME
"

run 'verify_app_name; echo unreachable'
expect "verify_app_name: no name" 1 "" $' !     Please specify an app to run the command on\n'

run 'verify_app_name ghost; echo unreachable' DOKKU_FAIL_EXIT_CODE=5
expect "verify_app_name: missing is 20 whatever DOKKU_FAIL_EXIT_CODE says" 20 "" $' !     App ghost does not exist\n'

run 'dokku_apps'
expect "dokku_apps: directories with app names, sorted, no symlinks" 0 $'demo\nold_style\nzeta\n' ""

run 'dokku_apps; echo unreachable' DOKKU_ROOT="$WORK/empty-root"
expect "dokku_apps: none" 1 "" $' !     You haven\'t deployed any applications yet\n'

# ----- deployed state --------------------------------------------------------------

run 'is_deployed demo && echo yes || echo no'
expect "is_deployed: no container files" 0 $'no\n' ""

printf 'cid-web-1\n' >"$WORK/root/demo/CONTAINER.web.1"
printf 'cid-web-2' >"$WORK/root/demo/CONTAINER.web.2"
printf 'cid-worker-1\n' >"$WORK/root/demo/CONTAINER.worker.1"
printf '10.0.0.2' >"$WORK/root/demo/IP.web.1"
printf '5000' >"$WORK/root/demo/PORT.web.1"

run 'is_deployed demo && echo yes; is_deployed zeta || echo no; is_deployed ghost || echo ghost; is_deployed "" || echo empty'
expect "is_deployed: container files" 0 $'yes\nno\nghost\nempty\n' ""

run 'get_app_container_ids demo'
expect "get_app_container_ids: all" 0 $'cid-web-1\ncid-web-2\ncid-worker-1\n' ""

run 'get_app_container_ids demo web; echo --; get_app_container_ids demo worker.1; echo --; get_app_container_ids demo web.9; get_app_container_ids demo "*"; get_app_container_ids zeta; echo end'
expect "get_app_container_ids: by type and dyno" 0 $'cid-web-1\ncid-web-2\n--\ncid-worker-1\n--\nend\n' ""

run 'ids=($(get_app_container_ids demo)); echo "${#ids[@]} ${ids[2]}"'
expect "get_app_container_ids: word-splits into an array" 0 $'3 cid-worker-1\n' ""

# ----- images ----------------------------------------------------------------------

printf 'abc1234-1700000000\nsecond line\n' >"$WORK/tag"
run 'get_running_image_tag demo'
expect "get_running_image_tag: the trigger's first line" 0 $'abc1234-1700000000\n' ""
check "get_running_image_tag fired the trigger with the app" grep -qxF 'trigger deployed-app-image-tag demo' "$WORK/plugn.log"

rm -f "$WORK/tag"
run 'get_running_image_tag demo; get_running_image_tag demo v2'
expect "get_running_image_tag: nothing deployed" 0 $'latest\nv2\n' ""

printf 'junk\n' >"$WORK/tag"
echo 3 >"$WORK/tag-status"
run 'get_running_image_tag demo; echo "after $?"'
expect "get_running_image_tag: a failing trigger is ignored, as in Dokku" 0 $'junk\nafter 0\n' ""
rm -f "$WORK/tag" "$WORK/tag-status"

run 'get_app_image_repo demo; get_app_image_name demo; get_app_image_name demo abc; get_app_image_name demo abc registry.example/x'
expect "image names" 0 $'dokku/demo\ndokku/demo:latest\ndokku/demo:abc\nregistry.example/x:abc\n' ""

run 'is_image_herokuish_based dokku/demo:latest demo && echo yes || echo no'
expect "is_image_herokuish_based: never" 0 $'no\n' ""

# ----- predicates --------------------------------------------------------------------

run 'for v in 0 123 007; do is_number "$v" && echo "$v yes"; done; for v in "" -1 1.5 12a " 1" "1 "; do is_number "$v" || echo "[$v] no"; done'
expect "is_number" 0 $'0 yes\n123 yes\n007 yes\n[] no\n[-1] no\n[1.5] no\n[12a] no\n[ 1] no\n[1 ] no\n' ""

run 'is_abs_path /a/b && echo abs; is_abs_path a/b || echo rel; is_abs_path "" || echo empty'
expect "is_abs_path" 0 $'abs\nrel\nempty\n' ""

run 'fn-in-array b a b c && echo 1; fn-in-array d a b c || echo 2; fn-in-array "" a "" && echo 3; fn-in-array x "*" "?" || echo 4; fn-in-array "a b" a b || echo 5; fn-in-array "a b" "a b" && echo 6; fn-in-array a || echo 7'
expect "fn-in-array compares literally" 0 $'1\n2\n3\n4\n5\n6\n7\n' ""

run 'has_tty || echo no; DOKKU_FORCE_TTY=true has_tty && echo forced; DOKKU_DISABLE_TTY=true DOKKU_FORCE_TTY=true has_tty || echo disabled'
expect "has_tty" 0 $'no\nforced\ndisabled\n' ""

# ----- suppress_output ------------------------------------------------------------------

run 'suppress_output printf "%s|" "a b" "*"; echo "status $?"'
expect "suppress_output hides the output of a success" 0 $'status 0\n' ""

run 'noisy() { echo "out $1"; echo "err $2" >&2; return 3; }; suppress_output noisy "x y" "\$(touch pwned)" || echo "status $?"'
expect "suppress_output shows the output of a failure and returns its status" 0 $'out x y\nerr $(touch pwned)\nstatus 3\n' ""
check "suppress_output evaluated nothing" test ! -e "$WORK/pwned"

run 'suppress_output false; echo unreachable'
expect "suppress_output failure stops a set -e script" 1 "" ""

# ----- properties ---------------------------------------------------------------------------

P="$WORK/lib/config/myplug"

run 'fn-plugin-property-get myplug demo color; fn-plugin-property-get myplug demo color blue; fn-plugin-property-get-default myplug demo color red'
expect "property get: unset gives the default" 0 $'\nblue\nred\n' ""

run 'fn-plugin-property-exists myplug demo color || echo unset; fn-plugin-property-write myplug demo color green; fn-plugin-property-exists myplug demo color && echo set; fn-plugin-property-get myplug demo color blue'
expect "property write, exists, get" 0 $'unset\nset\ngreen\n' ""
check "property file holds the raw value" cmp -s <(printf 'green') "$P/demo/color"
check "property file mode 0600" test "$(stat -c %a "$P/demo/color")" = 600
check "property folder mode 0755" test "$(stat -c %a "$P/demo")" = 755

run 'fn-plugin-property-write myplug demo motd "$V"; fn-plugin-property-get myplug demo motd' V=$'-n two  spaces\n\tand a tab * $(x) "q"'
expect "property values round-trip byte for byte" 0 $'-n two  spaces\n\tand a tab * $(x) "q"\n' ""
check "property file: exact bytes" cmp -s <(printf '%s' $'-n two  spaces\n\tand a tab * $(x) "q"') "$P/demo/motd"

run 'fn-plugin-property-write myplug demo color ""; fn-plugin-property-exists myplug demo color || echo gone'
expect "writing an empty value deletes the property" 0 $'gone\n' ""
check "empty write removed the file" test ! -e "$P/demo/color"

run 'fn-plugin-property-write myplug demo a 1; fn-plugin-property-delete myplug demo a; fn-plugin-property-delete myplug demo a; fn-plugin-property-get myplug demo a none'
expect "property delete (twice is fine)" 0 $'none\n' ""

run 'fn-plugin-property-write myplug --global a g; fn-plugin-property-get myplug --global a'
expect "global properties" 0 $'g\n' ""
check "global property path" test -f "$P/--global/a"

for args in '"" demo k v' 'myplug "" k v' 'myplug demo "" v' '../x demo k v' 'myplug ../demo k v' 'myplug demo ../k v' 'myplug demo a/b v' 'myplug demo . v' 'myplug .. k v'; do
  run "fn-plugin-property-write $args; echo unreachable"
  check "property write refuses bad path components ($args): exit 1" test "$STATUS" = 1
  check "property write refuses bad path components ($args): message" grep -q '^ !     (fn-plugin-property-write) invalid ' "$WORK/err"
done
check "nothing written outside the property folders" test ! -e "$WORK/lib/config/k" -a ! -e "$WORK/lib/x" -a ! -e "$WORK/lib/config/demo" -a ! -e "$P/k"

run 'fn-plugin-property-get myplug ../demo k; echo unreachable'
expect "property get refuses a bad app" 1 "" $' !     (fn-plugin-property-get) invalid APP: \'../demo\'\n'

run 'fn-plugin-property-list-get myplug demo hosts; fn-plugin-property-list-length myplug demo hosts'
expect "list: unset" 0 $'0\n' ""

run 'fn-plugin-property-list-add myplug demo hosts a.example; fn-plugin-property-list-add myplug demo hosts "b with space"; fn-plugin-property-list-add myplug demo hosts c; fn-plugin-property-list-get myplug demo hosts; fn-plugin-property-list-length myplug demo hosts'
expect "list add, get, length" 0 $'a.example\nb with space\nc\n3\n' ""
check "list file: one item per line" cmp -s <(printf 'a.example\nb with space\nc\n') "$P/demo/hosts"

run 'fn-plugin-property-list-remove myplug demo hosts "b with space"; fn-plugin-property-list-get myplug demo hosts'
expect "list remove" 0 $'a.example\nc\n' ""

run 'fn-plugin-property-list-remove myplug demo hosts nothere; echo unreachable'
expect "list remove of a missing item fails" 1 "" $' !     Property not found, nothing was removed\n'

run 'fn-plugin-property-list-add myplug demo hosts "$V"; echo unreachable' V=$'x\ny'
expect "list add refuses a newline" 1 "" $' !     (fn-plugin-property-list-add) a list item cannot contain a newline\n'

run 'fn-plugin-property-list-remove myplug demo hosts a.example; fn-plugin-property-list-remove myplug demo hosts c; fn-plugin-property-exists myplug demo hosts || echo empty'
expect "removing the last item deletes the list" 0 $'empty\n' ""

run 'for i in $(seq 1 20); do fn-plugin-property-list-add myplug demo par "item $i" & done; wait; fn-plugin-property-list-length myplug demo par'
expect "concurrent list adds lose nothing" 0 $'20\n' ""

run 'fn-plugin-property-write myplug demo k1 v1; fn-plugin-property-write myplug demo k2 "$V"; fn-plugin-property-clone myplug demo copy; fn-plugin-property-get myplug copy k1; fn-plugin-property-list-length myplug copy par' V=$'two\nlines\n'
expect "property clone" 0 $'v1\n20\n' ""
check "clone copies bytes exactly" cmp -s "$P/demo/k2" "$P/copy/k2"
check "cloned file mode 0600" test "$(stat -c %a "$P/copy/k2")" = 600

run 'fn-plugin-property-destroy myplug copy; fn-plugin-property-get myplug copy k1 gone; fn-plugin-property-clone myplug nothing other; echo ok'
expect "property destroy, clone of nothing" 0 $'gone\nok\n' ""
check "destroy removed the folder" test ! -e "$P/copy" -a ! -e "$P/other"

run 'fn-plugin-property-setup newplug'
expect "property setup" 0 "" ""
check "setup made the plugin folder" test -d "$WORK/lib/config/newplug"

leftovers="$(find "$WORK/lib" -name '.*.tmp.*' | head -n 3)"
check "no temporary files left behind" test -z "$leftovers"

run 'set -u; fn-plugin-property-get myplug demo k1; fn-plugin-property-list-get myplug demo nothere; echo ok'
expect "property helpers under set -u" 0 $'v1\nok\n' ""

# ----- summary -------------------------------------------------------------------------------

printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
[[ $FAILED -eq 0 ]]
