# Sourced by checks that run against a throwaway server in each mode. `in_both_modes WHAT FN`
# runs `FN MODE` scaled out and then embedded (PIKA_MODE set to match), each in a subshell
# whose EXIT trap removes its server and in which a failed step ends the mode; it goes on to
# the next mode after a failure and fails at the end, naming the modes that failed.
in_both_modes() {
  local what="$1" check="$2" mode status
  local failed=()
  for mode in scaled-out embedded; do
    echo "== $what, $mode"
    set +e
    (
      set -e
      if [ "$mode" = embedded ]; then
        export PIKA_MODE=embedded
      else
        unset PIKA_MODE
      fi
      "$check" "$mode"
    )
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
      failed+=("$mode")
    fi
  done
  if [ "${#failed[@]}" -ne 0 ]; then
    echo "$what failed: ${failed[*]}" >&2
    return 1
  fi
}
