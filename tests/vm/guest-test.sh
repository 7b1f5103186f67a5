#!/bin/bash
# The VM matrix's checks, run as root inside a Debian guest that `cargo xtask vm-test`
# (xtask/src/vm/) booted with the release's own kernel and systemd. The guest's `vmtest.service`
# mounts the payload disk read-only on /run/vmtest and runs this script with stdout on the second
# serial port, which the host reads. It installs /run/vmtest/sshd-sensor.deb, starts the service
# with the shipped configuration unmodified, runs each check, and powers off.
#
# Output protocol (one line each, everything else is diagnostics):
#   VMTEST-INFO key=value ...           facts about the guest
#   VMTEST-PLAN check ...               checks this guest will report (may repeat; union)
#   VMTEST <check> PASS|FAIL <detail>   one result per planned check, detail ends with [seconds]
#   VMTEST-END                          all checks ran
# Every wait is bounded in time. There is no NIC: a dummy interface holds 192.0.2.1, 2001:db8::1
# and both default routes, so connects to public addresses stay in SYN_SENT and nothing leaves
# (see check_network for why not lo).
# shellcheck disable=SC2317 # helpers defined inside checks are called through wait_until
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export SYSTEMD_PAGER='' SYSTEMD_COLORS=0 LC_ALL=C.UTF-8

readonly PAYLOAD=/run/vmtest
readonly UNIT=sshd-sensor.service
readonly CONFIG=/etc/sshd-sensor/config.toml
readonly RULE_ID=63431796-f813-43af-820b-492ee2efec8e
readonly USER_NAME=vmtest
readonly KEY=/root/vmtest_key
readonly ALERT_WAIT=15 # seconds an alert may take to reach the journal and the file
readonly PUBLIC4=8.8.8.8 PUBLIC6=2001:4860:4860::8888 EXCLUDED4=10.1.2.3 RELOAD4=9.9.9.9
readonly STATIC_CHECKS="network ssh-login install service-start
    alert-ipv4-journal alert-ipv4-ndjson alert-ipv6-journal alert-ipv6-ndjson
    excluded-silent reload-exclusion logrotate-reopen rename-parent kill-restart
    check-as-service-user stop-unloads hook-values"

log() { echo "vmtest: $*"; }

# micro-seconds since the epoch
now_us() { echo "${EPOCHREALTIME/./}"; }
CHECK_START=$(now_us)
begin() { CHECK_START=$(now_us); log "--- $1"; }
# report CHECK PASS|FAIL DETAIL...: one result line, detail flattened to one line.
report() {
    local check=$1 status=$2
    shift 2
    local detail elapsed
    detail=$(printf '%s' "$*" | tr '\n\t' '  ' | cut -c1-400)
    elapsed=$((($(now_us) - CHECK_START) / 100000))
    echo "VMTEST $check $status $detail [$((elapsed / 10)).$((elapsed % 10))s]"
}
pass() { report "$1" PASS "${@:2}"; }
fail() { report "$1" FAIL "${@:2}"; }

# wait_until SECONDS CMD...: runs CMD every 0.5 s until it succeeds or SECONDS pass.
wait_until() {
    local limit=$1 start
    shift
    start=$(now_us)
    while :; do
        "$@" && return 0
        (($(now_us) - start > limit * 1000000)) && return 1
        sleep 0.5
    done
}

unit_prop() { systemctl show -p "$2" --value "$1" 2>/dev/null; }
unit_state() { echo "$(unit_prop "$1" ActiveState)/$(unit_prop "$1" SubState)"; }
unit_running() { [ "$(unit_state "$1")" = active/running ]; }
# service_problem CHECK: fails CHECK and returns 0 when the service is not running.
service_problem() {
    unit_running "$UNIT" && return 1
    fail "$1" "$UNIT is $(unit_state "$UNIT"), not active/running"
    return 0
}
# journal_tail UNIT [N]: the last N lines the unit's own processes logged (not systemd's).
journal_tail() { journalctl "_SYSTEMD_UNIT=$1" -n "${2:-3}" -o cat --no-pager 2>/dev/null | tail -n "${2:-3}"; }
# diagnose UNIT: the sensor's counters (SIGUSR1 stats line) and its last journal lines, as
# diagnostics after a failed check.
diagnose() {
    systemctl kill -s USR1 "$1" 2>/dev/null && sleep 1
    journalctl -u "$1" -n 12 -o short-monotonic --no-pager 2>&1 | cut -c1-600 | sed 's/^/  | /'
}

# --- the login and the connects --------------------------------------------------------------

# login CMD: runs CMD as the test user over SSH to 127.0.0.1 (key auth), bounded.
login() {
    timeout 60 ssh -n -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=20 \
        "$USER_NAME@127.0.0.1" "$1"
}
# url IP PORT
url() { case $1 in *:*) echo "http://[$1]:$2/" ;; *) echo "http://$1:$2/" ;; esac; }
# curl_words IP PORT: a curl that tries to connect for one second.
curl_words() { echo "curl -sS -g -m1 -o /dev/null $(url "$1" "$2")"; }
# connect_login IP PORT [IP PORT]...: one login whose shell forks one curl per destination, in
# parallel (a second curl after the first's 1 s timeout would fall outside the maxspan).
connect_login() {
    local words=""
    while [ $# -ge 2 ]; do
        words="$words $(curl_words "$1" "$2") &"
        shift 2
    done
    login "sh -c '$words wait; true'" >/dev/null 2>&1
}

# journal_has UNIT IP PORT: an alert for IP:PORT in UNIT's journal with its structured fields.
journal_has() {
    # --all: without it, -o json prints fields over 4096 bytes (SSHD_SENSOR_ECS) as null.
    journalctl -u "$1" -o json --all --no-pager "SSHD_SENSOR_DESTINATION_PORT=$3" 2>/dev/null |
        jq -e -s --arg ip "$2" --arg rule "$RULE_ID" --arg user "$USER_NAME" '
            map(select(.SSHD_SENSOR_RULE_ID == $rule and .SSHD_SENSOR_DESTINATION_IP == $ip
                and .SSHD_SENSOR_PROCESS_EXECUTABLE == "/usr/bin/curl"
                and .SSHD_SENSOR_USER_NAME == $user
                and (.SSHD_SENSOR_PARENT_PID // "") != ""
                and (.SSHD_SENSOR_ECS // "") != "")) | length > 0' >/dev/null
}
# journal_any UNIT PORT: any journal entry of UNIT with that destination port.
journal_any() {
    [ -n "$(journalctl -u "$1" -o cat --no-pager "SSHD_SENSOR_DESTINATION_PORT=$2" 2>/dev/null)" ]
}
# ndjson_has FILE IP PORT: an ECS alert document for IP:PORT in FILE.
ndjson_has() {
    [ -f "$1" ] && jq -e -s --arg ip "$2" --argjson port "$3" --arg rule "$RULE_ID" '
        map(select(.rule.id == $rule and .destination.ip == $ip and .destination.port == $port
            and .process.executable == "/usr/bin/curl")) | length > 0' "$1" >/dev/null 2>&1
}
ndjson_any() { [ -f "$1" ] && grep -q "\"port\":$2[,}]" "$1"; }

# The alert file the shipped configuration names.
alert_file() { sed -n 's/^[[:space:]]*file[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$CONFIG" | head -n1; }

# Counts loaded BPF programs other than systemd's cgroup ones (every id the kernel knows), or
# prints "unknown".
count_progs() {
    local n
    n=$(bpftool -j prog show 2>/dev/null | jq '[.[] | select(.type | test("^cgroup") | not)] | length' 2>/dev/null)
    [[ $n =~ ^[0-9]+$ ]] && echo "$n" || echo unknown
}
is_count() { [[ $1 =~ ^[0-9]+$ ]]; }

# --- checks ----------------------------------------------------------------------------------

check_network() {
    begin network
    # One dummy interface (it drops whatever it is given) holds both default routes. Through lo
    # they would not do: an IPv6 route via lo becomes a reject route (no SYN_SENT at all), and
    # an IPv4 SYN looped back through lo draws an ICMP unreachable that ends SYN_SENT at once.
    local ok=1 why="" ip
    modprobe dummy 2>/dev/null
    if ! { ip link add vmtest0 type dummy && ip link set vmtest0 up &&
        ip addr add 192.0.2.1/24 dev vmtest0 &&
        ip route add default dev vmtest0 src 192.0.2.1 &&
        ip -6 addr add 2001:db8::1/64 dev vmtest0 nodad &&
        ip -6 route add default dev vmtest0 src 2001:db8::1; }; then
        ok=0
        why="route setup failed; "
    fi
    for ip in "$PUBLIC4" "$PUBLIC6"; do
        timeout 5 curl -sS -g -m3 -o /dev/null "$(url "$ip" 3999)" 2>/dev/null &
        if wait_until 3 sh -c "ss -Htn state syn-sent | grep -qF '$ip'"; then
            why="$why$ip: SYN_SENT; "
        else
            ok=0
            why="$why$ip: no SYN_SENT; "
        fi
    done
    wait
    if [ $ok = 1 ]; then
        pass network "$why"
    else
        fail network "$why $(ip route; ip -6 route)"
    fi
}

check_ssh_login() {
    begin ssh-login
    useradd -m -s /bin/bash "$USER_NAME"
    rm -f "$KEY" "$KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -f "$KEY"
    install -d -m 700 -o "$USER_NAME" -g "$USER_NAME" "/home/$USER_NAME/.ssh"
    install -m 600 -o "$USER_NAME" -g "$USER_NAME" "$KEY.pub" "/home/$USER_NAME/.ssh/authorized_keys"
    local out
    if out=$(wait_until 60 login 'echo login-ok' 2>&1) && [ "$(login 'id -un')" = "$USER_NAME" ]; then
        pass ssh-login "key login as $USER_NAME to 127.0.0.1"
    else
        fail ssh-login "ssh as $USER_NAME failed: $out; ssh: $(unit_state ssh.service)"
    fi
}

check_install() {
    begin install
    local out
    if out=$(DEBIAN_FRONTEND=noninteractive timeout 120 dpkg -i "$PAYLOAD/sshd-sensor.deb" 2>&1); then
        pass install "dpkg -i: $(dpkg-query -W -f='${Package} ${Version}' sshd-sensor)"
    else
        fail install "dpkg -i failed: $(echo "$out" | tail -n 3)"
    fi
}

check_service_start() {
    begin service-start
    local out
    out=$(timeout 120 systemctl enable --now "$UNIT" 2>&1)
    local rc=$?
    if [ $rc = 0 ] && unit_running "$UNIT"; then
        pass service-start "enable --now: $(unit_state "$UNIT") (pid $(unit_prop "$UNIT" MainPID))"
    else
        fail service-start "enable --now exit $rc, $(unit_state "$UNIT"); its log: $(journal_tail "$UNIT" 1)"
    fi
}

# check_alert FAMILY IP PORT: one login connecting to IP:PORT; the alert in journal and file.
check_alert() {
    local family=$1 ip=$2 port=$3 file
    file=$(alert_file)
    begin "alert-$family"
    if service_problem "alert-$family-journal"; then
        fail "alert-$family-ndjson" "$UNIT is not running"
        return
    fi
    connect_login "$ip" "$port"
    if wait_until $ALERT_WAIT journal_has "$UNIT" "$ip" "$port"; then
        local ecs
        ecs=$(journalctl -u "$UNIT" -o json --all --no-pager "SSHD_SENSOR_DESTINATION_PORT=$port" |
            jq -s 'map(.SSHD_SENSOR_ECS | length) | max')
        pass "alert-$family-journal" "$ip:$port with SSHD_SENSOR_* fields (SSHD_SENSOR_ECS: $ecs bytes)"
    elif journal_any "$UNIT" "$port"; then
        fail "alert-$family-journal" "$ip:$port in the journal, but fields missing or wrong"
    else
        fail "alert-$family-journal" "no alert for $ip:$port within ${ALERT_WAIT}s"
    fi
    if [ -z "$file" ]; then
        fail "alert-$family-ndjson" "$CONFIG names no alert file"
    elif wait_until 5 ndjson_has "$file" "$ip" "$port"; then
        pass "alert-$family-ndjson" "$ip:$port in $file"
    else
        fail "alert-$family-ndjson" "no ECS alert for $ip:$port in $file ($(stat -c '%s bytes' "$file" 2>&1))"
    fi
}

# expect_control_only CHECK SILENT_PORT CONTROL_IP CONTROL_PORT WHAT: the control alerts,
# the other does not.
expect_control_only() {
    local check=$1 silent=$2 cip=$3 cport=$4 what=$5
    if ! wait_until $ALERT_WAIT journal_has "$UNIT" "$cip" "$cport"; then
        fail "$check" "positive control $cip:$cport did not alert within ${ALERT_WAIT}s"
    elif sleep 1 && journal_any "$UNIT" "$silent"; then # 1 s for a late alert to show
        fail "$check" "$what alerted (port $silent) next to the control"
    else
        pass "$check" "$what silent, control $cip:$cport alerted"
    fi
}

check_excluded() {
    begin excluded-silent
    service_problem excluded-silent && return
    connect_login "$EXCLUDED4" 4003 "$PUBLIC4" 4004
    expect_control_only excluded-silent 4003 "$PUBLIC4" 4004 "$EXCLUDED4 (rule exclusion)"
}

check_reload() {
    begin reload-exclusion
    service_problem reload-exclusion && return
    connect_login "$RELOAD4" 4015
    if ! wait_until $ALERT_WAIT journal_has "$UNIT" "$RELOAD4" 4015; then
        fail reload-exclusion "before the reload $RELOAD4:4015 did not alert, so the exclusion cannot be tested"
        return
    fi
    sed -i '/^\[rule\]/a extra_excluded_cidrs = ["9.9.9.0/24"]' "$CONFIG"
    local out
    if ! out=$(timeout 60 systemctl reload "$UNIT" 2>&1); then
        fail reload-exclusion "systemctl reload failed: $out"
        return
    fi
    # The daemon sends RELOADING=1 then READY=1: wait for systemd to see it running again.
    wait_until 30 unit_running "$UNIT"
    connect_login "$RELOAD4" 4005 "$PUBLIC4" 4006
    expect_control_only reload-exclusion 4005 "$PUBLIC4" 4006 "$RELOAD4 (excluded by reload)"
}

check_logrotate() {
    begin logrotate-reopen
    service_problem logrotate-reopen && return
    local file out
    file=$(alert_file)
    # An alert in the file first: logrotate leaves an empty file alone (notifempty).
    connect_login "$PUBLIC4" 4019
    if ! wait_until $ALERT_WAIT ndjson_has "$file" "$PUBLIC4" 4019; then
        fail logrotate-reopen "before the rotation no alert for $PUBLIC4:4019 reached $file"
        return
    fi
    if ! out=$(timeout 60 logrotate -f /etc/logrotate.d/sshd-sensor 2>&1); then
        fail logrotate-reopen "logrotate -f failed: $out"
        return
    fi
    if [ ! -f "$file.1" ]; then
        fail logrotate-reopen "no $file.1 after logrotate -f: $out"
        return
    fi
    wait_until 30 unit_running "$UNIT"
    connect_login "$PUBLIC4" 4009
    if ! wait_until $ALERT_WAIT journal_has "$UNIT" "$PUBLIC4" 4009; then
        fail logrotate-reopen "no alert for $PUBLIC4:4009 after the rotation"
    elif wait_until 5 ndjson_has "$file" "$PUBLIC4" 4009; then
        pass logrotate-reopen "alert after rotation in the new $file"
    elif ndjson_any "$file.1" 4009; then
        fail logrotate-reopen "alert after rotation went to the rotated $file.1"
    else
        fail logrotate-reopen "alert after rotation in neither $file nor $file.1"
    fi
}

check_rename() {
    begin rename-parent
    service_problem rename-parent && return
    # What dpkg does on an openssh-server upgrade: a new copy renamed over each executable.
    local exe replaced=""
    for exe in /usr/sbin/sshd /usr/lib/openssh/sshd-session /usr/lib/openssh/sshd-auth; do
        [ -f "$exe" ] || continue
        local before
        before=$(stat -c %i "$exe")
        cp -p "$exe" "$exe.dpkg-new" && mv -f "$exe.dpkg-new" "$exe"
        replaced="$replaced $exe (inode $before->$(stat -c %i "$exe"))"
    done
    sleep 1 # the issue's bound: the new identity is watched within a second
    connect_login "$PUBLIC4" 4007
    if wait_until $ALERT_WAIT journal_has "$UNIT" "$PUBLIC4" 4007; then
        pass rename-parent "alert after replacing$replaced"
    else
        fail rename-parent "no alert for $PUBLIC4:4007 within ${ALERT_WAIT}s after replacing$replaced"
    fi
}

check_kill_restart() {
    begin kill-restart
    service_problem kill-restart && return
    local pid before after
    pid=$(unit_prop "$UNIT" MainPID)
    before=$(count_progs)
    if ! is_count "$before" || ! is_count "$BASE_PROGS" || ! [ "$before" -gt "$BASE_PROGS" ]; then
        fail kill-restart "cannot count the sensor's programs (running: '$before', before start: $BASE_PROGS)"
        return
    fi
    systemctl kill -s KILL "$UNIT"
    new_pid() {
        local p
        p=$(unit_prop "$UNIT" MainPID)
        [ "$p" != 0 ] && [ "$p" != "$pid" ] && unit_running "$UNIT"
    }
    if ! wait_until 60 new_pid; then
        fail kill-restart "no restart within 60s after SIGKILL of pid $pid: $(unit_state "$UNIT")"
        return
    fi
    progs_back() { after=$(count_progs); [ "$after" = "$before" ]; }
    if wait_until 15 progs_back; then
        pass kill-restart "pid $pid killed, restarted as $(unit_prop "$UNIT" MainPID); $before programs before and after"
    else
        fail kill-restart "restarted, but $after programs loaded vs $before before the kill"
    fi
}

check_as_service_user() {
    begin check-as-service-user
    # The unit's own capability lines, whatever they are today.
    local unit_text props=() line out
    unit_text=$(systemctl cat "$UNIT" 2>/dev/null)
    while IFS= read -r line; do
        case $line in
        CapabilityBoundingSet=* | AmbientCapabilities=* | LimitMEMLOCK=*) props+=(-p "$line") ;;
        esac
    done <<<"$unit_text"
    if out=$(timeout 120 systemd-run --quiet --wait --pipe -p DynamicUser=yes "${props[@]}" \
        /usr/bin/sshd-sensor check </dev/null 2>&1); then
        pass check-as-service-user "sshd-sensor check exit 0 with ${props[*]}"
    else
        fail check-as-service-user "sshd-sensor check failed: $(echo "$out" | grep -iE 'error|fail|not' | head -n 3)"
    fi
}

check_stop_unloads() {
    begin stop-unloads
    if service_problem stop-unloads; then
        timeout 60 systemctl stop "$UNIT" # out of the ad hoc hook runs' way
        return
    fi
    local out left running
    running=$(count_progs)
    if ! is_count "$running" || ! is_count "$BASE_PROGS" || ! [ "$running" -gt "$BASE_PROGS" ]; then
        fail stop-unloads "cannot count the sensor's programs (running: '$running', before start: '$BASE_PROGS')"
        return
    fi
    if ! out=$(timeout 60 systemctl stop "$UNIT" 2>&1); then
        fail stop-unloads "systemctl stop failed: $out"
        return
    fi
    at_base() { left=$(count_progs); [ "$left" = "$BASE_PROGS" ]; }
    if wait_until 15 at_base; then
        pass stop-unloads "$running programs while running, $left after stop, as before the first start"
    else
        fail stop-unloads "$left programs after stop, $BASE_PROGS before the first start"
    fi
}

# option_values OPTION: the values other than auto that `sshd-sensor run --help` lists for
# OPTION (clap's short form "[possible values: a, b]" or its long form "- a: ...").
option_values() {
    local help
    help=$(/usr/bin/sshd-sensor run --help 2>/dev/null | awk -v opt="$1" '
        index($0, opt " ") || index($0, opt "=") { on = 1; print; next }
        on && /^ *-[-a-zA-Z], |^ *--[a-z]/ { on = 0 }
        on { print }')
    {
        printf '%s' "$help" | tr -d '\n' | sed -n 's/.*possible values: *\([^]]*\)\].*/\1/p' | tr -d ' ' | tr ',' '\n'
        printf '%s\n' "$help" | sed -n 's/^ *- \([a-z0-9-]*\):.*/\1/p'
    } | grep -v -e '^auto$' -e '^$'
}

# check_forced ROW PORT FLAG VALUE: the sensor run ad hoc as root with `FLAG VALUE` forced
# starts and alerts (parents: sshd and, where it exists, sshd-session, so the row is about the
# attach mode, not about the default parent list).
check_forced() {
    local row=$1 port=$2 flag=$3 value=$4 unit="vmtest-$1" parents=() exe out
    begin "$row"
    for exe in /usr/sbin/sshd /usr/lib/openssh/sshd-session; do
        [ -f "$exe" ] && parents+=(--parent-executable "$exe")
    done
    : >/run/vmtest-empty.toml
    # Type=notify: systemd-run returns once the sensor said READY=1 (or failed).
    if ! out=$(timeout 120 systemd-run --quiet --unit="$unit" -p Type=notify -p NotifyAccess=main \
        -p TimeoutStartSec=90 /usr/bin/sshd-sensor run --config /run/vmtest-empty.toml \
        --format json "$flag" "$value" "${parents[@]}" 2>&1) || ! unit_running "$unit"; then
        fail "$row" "did not start: $out $(unit_state "$unit") | $(journal_tail "$unit" 2)"
        systemctl stop "$unit" 2>/dev/null
        systemctl reset-failed "$unit" 2>/dev/null
        return
    fi
    connect_login "$PUBLIC4" "$port"
    if wait_until $ALERT_WAIT journal_has "$unit" "$PUBLIC4" "$port"; then
        pass "$row" "root, $flag $value, parents ${parents[*]}: alerted"
    else
        fail "$row" "started but no alert for $PUBLIC4:$port within ${ALERT_WAIT}s"
        diagnose "$unit"
    fi
    timeout 60 systemctl stop "$unit"
    systemctl reset-failed "$unit" 2>/dev/null
}

# Each --connect-hook value, read from --help at run time (the list grows), and each
# --tracepoints value where the binary has that option.
check_hooks() {
    local hooks value port=4101
    begin hook-values
    hooks=$(option_values --connect-hook)
    if [ -z "$hooks" ]; then
        fail hook-values "cannot read the --connect-hook values from 'sshd-sensor run --help': $(/usr/bin/sshd-sensor run --help 2>&1 | head -n 2)"
        return
    fi
    local tracepoints
    tracepoints=$(option_values --tracepoints)
    # shellcheck disable=SC2086
    echo "VMTEST-PLAN$(printf ' hook-%s' $hooks)$(printf ' tracepoints-%s' $tracepoints | sed 's/^ tracepoints-$//')"
    pass hook-values "--connect-hook: $hooks; --tracepoints: ${tracepoints:-(no such option)}"
    for value in $hooks; do
        check_forced "hook-$value" $port --connect-hook "$value"
        port=$((port + 1))
    done
    for value in $tracepoints; do
        check_forced "tracepoints-$value" $port --tracepoints "$value"
        port=$((port + 1))
    done
}

# run GROUP FUNCTION ARGS...: runs a group of checks unless the payload's `only` file (from
# `cargo xtask vm-test --only`, for development) leaves it out; then its checks stay unreported
# and the matrix shows them as not-run.
run() {
    if [ -f "$PAYLOAD/only" ] && ! grep -qxF "$1" "$PAYLOAD/only"; then
        log "--- $1: left out by --only"
        return
    fi
    "${@:2}"
}

# --- main ------------------------------------------------------------------------------------

main() {
    # shellcheck disable=SC1091
    . /etc/os-release
    echo "VMTEST-INFO release=${VERSION_CODENAME:-?} kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)s" \
        "openssh=\"$(ssh -V 2>&1)\" systemd=$(systemctl --version | awk 'NR==1{print $2}')" \
        "perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)" \
        "bpftool=$(command -v bpftool >/dev/null && echo yes || echo no)"
    # shellcheck disable=SC2086
    echo "VMTEST-PLAN" $STATIC_CHECKS
    BASE_PROGS=$(count_progs)
    check_network
    check_ssh_login
    check_install
    check_service_start
    run alert check_alert ipv4 "$PUBLIC4" 4001
    run alert check_alert ipv6 "$PUBLIC6" 4002
    run excluded check_excluded
    run reload check_reload
    run logrotate check_logrotate
    run rename check_rename
    run kill-restart check_kill_restart
    run check-as-service-user check_as_service_user
    run stop-unloads check_stop_unloads
    run hooks check_hooks
    echo "VMTEST-INFO checks-done uptime=$(cut -d' ' -f1 /proc/uptime)s"
    local at
    at=$(systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target)
    echo "VMTEST-INFO multi-user-reached-at=$((at / 100000 / 10)).$((at / 100000 % 10))s"
    echo "VMTEST-END"
}

main 2>&1
