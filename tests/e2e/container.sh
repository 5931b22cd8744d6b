#!/usr/bin/env bash
# End-to-end test of the platform image (README "Run it", reference §8):
# builds berth:latest (scripts/build-image), starts it the way Dokku's
# documentation starts dokku/dokku (one host volume, the docker socket,
# DOKKU_HOSTNAME and the *_HOST_ROOT variables), then with the real ssh, git
# and curl: adds a key through `docker exec -i`, creates an app over SSH,
# sets config, pushes tests/apps/hello and reaches it through nginx by its
# vhost. Then it re-creates the platform container on the same volume (an
# upgrade) and checks that the SSH host key, the apps, their config and the
# routing survive, once with and once without DOKKU_HOST_ROOT /
# DOKKU_LIB_HOST_ROOT.
#
# Cleans up every container, image and network it created. Prints
# "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly IMAGE="${BERTH_IMAGE:-berth:latest}"
readonly NETWORK="berth"
readonly DOMAIN="e2e.berth.localhost"
readonly PLATFORM="berth-e2e-$$"
readonly APP="e2e-hello-$$"
readonly READY_TIMEOUT=30

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	printf 'ok    %s\n' "$1"
}
not_ok() {
	failed=$((failed + 1))
	printf 'FAIL  %s\n' "$1"
	if [[ -n "${2-}" ]]; then
		printf '%s\n' "$2" | sed 's/^/      /'
	fi
}
# check NAME COMMAND...: one test step, its output shown only on failure.
check() {
	local name="$1" out
	shift
	if out="$("$@" 2>&1)"; then ok "${name}"; else not_ok "${name}" "${out}"; fi
}
# measure NAME COMMAND...: the same, with the last line the command
# printed (a measured time) shown on success too.
measure() {
	local name="$1" out
	shift
	if out="$("$@" 2>&1)"; then ok "${name} (${out##*$'\n'})"; else not_ok "${name}" "${out}"; fi
}

scripts/build-image "${IMAGE}" >/dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-e2e.XXXXXX")"
volume="${tmp}/volume"
mkdir -p "${volume}"
network_existed=0
if docker network inspect "${NETWORK}" >/dev/null 2>&1; then network_existed=1; fi

finished=0
cleanup() {
	local status=$?
	set +e
	if ((finished == 0)); then
		not_ok "the test stopped early (exit status ${status})"
		printf '%d passed, %d failed\n' "${passed}" "${failed}"
	fi
	docker rm -f "${PLATFORM}" >/dev/null 2>&1
	docker ps -aq --filter "label=com.dokku.app-name=${APP}" | xargs -r docker rm -f >/dev/null 2>&1
	docker images -q "dokku/${APP}" | sort -u | xargs -r docker rmi -f >/dev/null 2>&1
	if ((network_existed == 0)); then docker network rm "${NETWORK}" >/dev/null 2>&1; fi
	rm -rf -- "${tmp}"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -C e2e -f "${tmp}/id"
# The host key is remembered under an alias, so the check holds whatever
# host port the engine maps 22 to this time.
ssh_opts=(-i "${tmp}/id" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5
	-o UserKnownHostsFile="${tmp}/known_hosts" -o HostKeyAlias=berth-e2e -o LogLevel=ERROR)
strict="accept-new"
dokku() { # dokku COMMAND...: over SSH, as a user would
	ssh "${ssh_opts[@]}" -o StrictHostKeyChecking="${strict}" -p "${ssh_port}" dokku@127.0.0.1 "$@"
}

# start_platform [--host-roots]: docker run as documented; waits until SSH
# and nginx answer (the health endpoint says so).
start_platform() {
	local -a env=(--env "DOKKU_HOSTNAME=${DOMAIN}")
	if [[ "${1-}" == "--host-roots" ]]; then
		env+=(--env "DOKKU_HOST_ROOT=${volume}/home/dokku"
			--env "DOKKU_LIB_HOST_ROOT=${volume}/var/lib/dokku")
	fi
	local start=${EPOCHREALTIME} waited=0
	docker container run -d --name "${PLATFORM}" "${env[@]}" \
		--publish 127.0.0.1::22 --publish 127.0.0.1::80 --publish 127.0.0.1::443 \
		--volume "${volume}:/mnt/dokku" \
		--volume /var/run/docker.sock:/var/run/docker.sock \
		"${IMAGE}" >/dev/null
	until docker exec "${PLATFORM}" berth healthcheck >/dev/null 2>&1; do
		if ((waited >= READY_TIMEOUT * 10)); then
			not_ok "platform ready within ${READY_TIMEOUT}s" "$(docker logs --tail 20 "${PLATFORM}" 2>&1)"
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	# SSH and HTTP from the host side too (through the published ports).
	# The ports are read on every try: when the platform joins the berth
	# network at start-up, the engine re-creates its port mappings, and a
	# port read in that moment is stale or empty.
	waited=0
	until ssh_port="$(docker port "${PLATFORM}" 22/tcp | head -n 1 | sed 's/.*://')" &&
		http_port="$(docker port "${PLATFORM}" 80/tcp | head -n 1 | sed 's/.*://')" &&
		[[ -n "${ssh_port}" && -n "${http_port}" ]] &&
		ssh-keyscan -p "${ssh_port}" 127.0.0.1 >/dev/null 2>&1 &&
		curl -s -o /dev/null "http://127.0.0.1:${http_port}/"; do
		if ((waited >= READY_TIMEOUT * 10)); then
			not_ok "published ports answer within ${READY_TIMEOUT}s" "$(docker port "${PLATFORM}"; docker logs --tail 20 "${PLATFORM}" 2>&1)"
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	ok "platform answers SSH and HTTP $(awk -v a="${start}" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%.2f", b - a }')s after docker run"
}

served() { # served EXPECTED: the app answers EXPECTED through nginx by its vhost
	local body=""
	for _ in $(seq 1 50); do
		body="$(curl -s --max-time 5 -H "Host: ${APP}.${DOMAIN}" "http://127.0.0.1:${http_port}/" || true)"
		[[ "${body}" == "$1" ]] && return 0
		sleep 0.2
	done
	echo "expected '$1', got '${body}'"
	return 1
}

app_listed() { dokku apps:list | grep -qx "${APP}"; }
config_kept() { [[ "$(dokku config:get "${APP}" MESSAGE)" == from-e2e ]]; }

recreate() { # recreate [--host-roots]: an upgrade: stop, remove, run again
	local before after
	before="$(date +%s%N)"
	docker stop "${PLATFORM}" >/dev/null
	after="$(date +%s%N)"
	if (((after - before) / 1000000 < 9000)); then
		ok "docker stop returns in $(((after - before) / 1000000)) ms"
	else
		not_ok "docker stop returns before the 10 s kill" "took $(((after - before) / 1000000)) ms"
	fi
	check "app container keeps running while the platform is down" \
		bash -c "docker ps -q --filter label=com.dokku.app-name=${APP} --filter status=running | grep -q ."
	docker rm "${PLATFORM}" >/dev/null
	start_platform "$@"
}

# ------------------------------------------------------------ first start --

start_platform --host-roots
check "health endpoint answers ok" docker exec "${PLATFORM}" berth healthcheck
check "state is on the volume" test -d "${volume}/home/dokku" -a -d "${volume}/var/lib/dokku/data/ssh"
check "DOKKU_HOSTNAME is the global domain" grep -qx "${DOMAIN}" "${volume}/home/dokku/VHOST"
check "first key via docker exec -i" \
	bash -c "docker exec -i '${PLATFORM}' dokku ssh-keys:add admin <'${tmp}/id.pub'"
check "apps:create over ssh" dokku apps:create "${APP}"
check "config:set over ssh" dokku config:set --no-restart "${APP}" MESSAGE=from-e2e
check "ports:set over ssh" dokku ports:set "${APP}" http:80:5000

cp -r tests/apps/hello "${tmp}/src"
git -C "${tmp}/src" init -q -b main
git -C "${tmp}/src" add -A
git -C "${tmp}/src" -c user.name=e2e -c user.email=e2e@example.test commit -qm hello
export GIT_SSH_COMMAND="ssh ${ssh_opts[*]} -o StrictHostKeyChecking=accept-new"
check "git push deploys" git -C "${tmp}/src" push -q "ssh://dokku@127.0.0.1:${ssh_port}/${APP}" main:master
check "app served through nginx by its vhost" served from-e2e

# Storage: a file the app writes lands in the host folder, through the
# translated bind-mount source (here with DOKKU_LIB_HOST_ROOT set).
storage="${volume}/var/lib/dokku/data/storage/e2e-data"
check "storage:ensure-directory over ssh" dokku storage:ensure-directory e2e-data
check "storage:mount over ssh" dokku storage:mount "${APP}" /var/lib/dokku/data/storage/e2e-data:/data
check "ps:restart applies the mount" dokku ps:restart "${APP}"
check "run writes into the mount" dokku run "${APP}" bash -c "'echo from-app > /data/written'"
check "the file is in the host folder" grep -qx from-app "${storage}/written"
entered_sees() { [[ "$(dokku enter "${APP}" web cat /data/written)" == from-app ]]; }
check "deployed container sees the mount" entered_sees

# HTTPS through the published 443: a self-signed certificate, kept on the
# volume, then removed (the checks below use plain HTTP).
check "certs:generate over ssh" dokku certs:generate "${APP}" "${APP}.${DOMAIN}"
https_served() {
	local port
	port="$(docker port "${PLATFORM}" 443/tcp | head -n 1 | sed 's/.*://')"
	[[ "$(curl -sk --max-time 5 --resolve "${APP}.${DOMAIN}:${port}:127.0.0.1" \
		"https://${APP}.${DOMAIN}:${port}/")" == from-e2e ]]
}
check "app served over HTTPS through the published 443" https_served
check "the certificate is on the volume" test -s "${volume}/home/dokku/${APP}/tls/server.crt"
check "certs:remove over ssh" dokku certs:remove "${APP}"

# Plugins: bundled ones installed at start and working through this
# container's nginx; one installed from a folder, kept on the volume.
bundled_enabled() { dokku plugin:list | grep -q '^  maintenance .* enabled'; }
check "bundled plugins installed and enabled" bundled_enabled
check "maintenance:on over ssh" dokku maintenance:on "${APP}"
maintenance_page() {
	curl -s --max-time 5 -H "Host: ${APP}.${DOMAIN}" -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:${http_port}/" | grep -qx 503
}
check "nginx answers 503 in maintenance" maintenance_page
check "maintenance:off over ssh" dokku maintenance:off "${APP}"
check "app served after maintenance" served from-e2e
cp -r tests/plugins/hello "${volume}/hello-plugin"
check "plugin:install from a folder" dokku plugin:install /mnt/dokku/hello-plugin --name hello
says_hello() { [[ "$(dokku hello:world "${APP}")" == "-----> hello, world from ${APP}" ]]; }
check "plugin command over ssh" says_hello
check "plugin:disable" dokku plugin:disable hello
check "plugin:uninstall of a bundled plugin" dokku plugin:uninstall http-auth

# --------------------------------------- crashes: kill, then start again --

# served_within SECONDS SINCE_NS: the app answers through nginx, at most
# SECONDS after SINCE_NS (a date +%s%N), and says how long it took.
served_within() {
	local limit_ns=$(($1 * 1000000000)) since="$2" body="" now
	while :; do
		# A restarted container may publish its ports elsewhere.
		http_port="$(docker port "${PLATFORM}" 80/tcp 2>/dev/null | head -n 1 | sed 's/.*://')"
		body="$(curl -s --max-time 1 -H "Host: ${APP}.${DOMAIN}" "http://127.0.0.1:${http_port:-1}/" || true)"
		now="$(date +%s%N)"
		if [[ "${body}" == from-e2e ]]; then
			echo "served $(((now - since) / 1000000)) ms after docker run"
			return 0
		fi
		if ((now - since > limit_ns)); then
			echo "not served within $1 s of docker run (last answer '${body}')"
			return 1
		fi
		sleep 0.1
	done
}

# docker rm -f: every platform process dies at once, as in a power loss
# or an OOM kill; then the README's docker run on the same volume.
docker rm -f "${PLATFORM}" >/dev/null
since="$(date +%s%N)"
start_platform --host-roots
measure "served again within 10 s of docker run after docker rm -f" served_within 10 "${since}"
git -C "${tmp}/src" commit -q --allow-empty -m after-crash
check "git push after docker rm -f" git -C "${tmp}/src" push -q "ssh://dokku@127.0.0.1:${ssh_port}/${APP}" main:master
check "served after the push that followed the crash" served from-e2e

# docker kill, then docker start of the same container: its own /run
# still holds the last boot's pid file and nginx socket.
docker kill "${PLATFORM}" >/dev/null
since="$(date +%s%N)"
docker start "${PLATFORM}" >/dev/null
measure "served again within 10 s of docker start after docker kill" served_within 10 "${since}"
check "the same container keeps running after its restart" \
	bash -c "sleep 3; [[ \"\$(docker inspect -f '{{.State.Running}} {{.State.ExitCode}}' '${PLATFORM}')\" == 'true 0' ]]"
nginx_bind_errors() { ! docker logs "${PLATFORM}" 2>&1 | grep -q 'Address already in use'; }
check "nginx never fails to bind after a crash" nginx_bind_errors

# ------------------------------------------------- re-created (upgrade) --

strict="yes"
export GIT_SSH_COMMAND="ssh ${ssh_opts[*]} -o StrictHostKeyChecking=yes"
recreate --host-roots
check "same SSH host key (strict known_hosts)" dokku version
check "apps intact" app_listed
check "config intact" config_kept
check "app still served" served from-e2e
git -C "${tmp}/src" commit -q --allow-empty -m redeploy
check "git push after the upgrade" git -C "${tmp}/src" push -q "ssh://dokku@127.0.0.1:${ssh_port}/${APP}" main:master
check "redeployed app served" served from-e2e
check "installed plugin survives re-creation" dokku plugin:installed hello
not_installed() { ! dokku plugin:installed "$1"; }
check "uninstalled bundled plugin stays uninstalled" not_installed http-auth
check "plugin:enable" dokku plugin:enable hello
check "plugin command after re-creation" dokku hello:world

# ------------------------- re-created without the *_HOST_ROOT variables --

recreate
check "same SSH host key without host roots" dokku version
check "app served without host roots" served from-e2e
# Auto-detection: the engine tells berth where /mnt/dokku lives on the host.
check "run writes into the mount (auto-detected host path)" \
	dokku run "${APP}" bash -c "'echo auto-detected > /data/second'"
check "the file is in the host folder (auto-detected)" grep -qx auto-detected "${storage}/second"

finished=1
printf '%d passed, %d failed\n' "${passed}" "${failed}"
((failed == 0))
