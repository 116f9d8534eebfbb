#!/bin/bash
# mailflow bastion container entrypoint: installs the run's public key for
# the user mailflow (MAILFLOW_SSH_AUTHORIZED_KEY; without it nobody can log
# in, and the container is only a vantage point), makes a host key, and runs
# sshd in the foreground, logging to stderr ("Server listening on ..." once
# it accepts connections).
set -euo pipefail

die() { echo "mailflow-bastion: FATAL: $*" >&2; exit 1; }

key="${MAILFLOW_SSH_AUTHORIZED_KEY:-}"
key_re='^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( [^[:cntrl:]]*)?$'
[[ -z "$key" || "$key" =~ $key_re ]] \
    || die "MAILFLOW_SSH_AUTHORIZED_KEY must be one public key (TYPE BASE64 [comment]) on one line"

mkdir -p /run/sshd /etc/ssh/authorized_keys
if [[ -n "$key" ]]; then
    printf '%s\n' "$key" >/etc/ssh/authorized_keys/mailflow
    chmod 0644 /etc/ssh/authorized_keys/mailflow
fi
[[ -e /etc/ssh/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C '' -f /etc/ssh/ssh_host_ed25519_key
/usr/sbin/sshd -t || die "sshd rejects its configuration (see /usr/sbin/sshd -t)"
exec /usr/sbin/sshd -D -e
