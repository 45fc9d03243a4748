# @about
# lsb.sh: what gen-init's SysV scripts (init.sh, daemon.sh) share. gen-init
# writes it into each of them in place of its `# @lsb` block (this comment
# left out), so that an installed script stands alone. The script defines
# PIDFILE, and do_start and do_stop, which return 0 (done), 1 (it already
# was) or 2 (failed).
# @end-about
PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PATH

# shellcheck source=/dev/null
. /lib/lsb/init-functions

# True while process $1 exists and is not a zombie.
running() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat")" != Z ]
}

# True while the process in $PIDFILE is running.
alive() {
    running "$(cat "$PIDFILE" 2>/dev/null)"
}

# `start` of the service named $1: do_start, said the LSB way (already
# running is success).
lsb_start() {
    log_daemon_msg "Starting $1" "$1"
    do_start
    case "$?" in
        0|1) log_end_msg 0 ;;
        *) log_end_msg 1; exit 1 ;;
    esac
}

# `stop` of the service named $1 (not running is success).
lsb_stop() {
    log_daemon_msg "Stopping $1" "$1"
    do_stop
    case "$?" in
        0) log_end_msg 0 ;;
        1) log_progress_msg "was not running"; log_end_msg 0 ;;
        *) log_end_msg 1; exit 1 ;;
    esac
}

# The end of a `restart` whose message has begun: do_stop, then do_start.
stop_then_start() {
    do_stop
    case "$?" in
        0|1)
            do_start
            case "$?" in
                0) log_end_msg 0 ;;
                *) log_end_msg 1; exit 1 ;;
            esac
            ;;
        *) log_end_msg 1; exit 1 ;;
    esac
}
