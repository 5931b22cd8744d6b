# bash completion for berth, which answers as `dokku` (and `berth`).
#
# Install on the host:    cp scripts/completion/dokku.bash /etc/bash_completion.d/dokku
# Or for one shell:       source scripts/completion/dokku.bash
#
# Commands come from `dokku help --all`, app names from `dokku --quiet apps:list`;
# both are asked once per shell and cached. Nothing typed is evaluated.

_dokku_commands() {
	if [[ -z "${_DOKKU_COMMANDS:-}" ]]; then
		_DOKKU_COMMANDS="$("$1" help --all 2>/dev/null | awk '/^    [a-z]/ { print $1 }')"
	fi
	printf '%s\n' "${_DOKKU_COMMANDS}"
}

_dokku_apps() {
	"$1" --quiet apps:list 2>/dev/null
}

_dokku() {
	local cur="${COMP_WORDS[COMP_CWORD]}" program="${COMP_WORDS[0]}"
	local word command="" position=0 i
	COMPREPLY=()
	# The command is the first word that is not a global flag.
	for ((i = 1; i < COMP_CWORD; i++)); do
		word="${COMP_WORDS[i]}"
		case "${word}" in
		--quiet | --trace | --force) ;;
		*)
			if [[ -z "${command}" ]]; then
				command="${word}"
			else
				position=$((position + 1))
			fi
			;;
		esac
	done
	if [[ -z "${command}" ]]; then
		if [[ "${cur}" == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--quiet --trace --force" -- "${cur}")
		else
			mapfile -t COMPREPLY < <(compgen -W "$(_dokku_commands "${program}")" -- "${cur}")
		fi
		return 0
	fi
	case "${command}" in
	*:report | *:set)
		if [[ "${position}" -eq 0 ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--global $(_dokku_apps "${program}")" -- "${cur}")
		fi
		;;
	ps:scale | ps:rebuild | ps:restart | ps:start | ps:stop | proxy:* | domains:enable | domains:disable)
		if [[ "${position}" -eq 0 ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--all $(_dokku_apps "${program}")" -- "${cur}")
		fi
		;;
	help | version | server | plugin:* | ssh-keys:* | domains:*-global | apps:create | apps:list | events*)
		;;
	*)
		if [[ "${position}" -eq 0 && "${cur}" != -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$(_dokku_apps "${program}")" -- "${cur}")
		fi
		;;
	esac
	return 0
}

complete -o default -F _dokku dokku berth
