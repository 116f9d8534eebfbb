#!/bin/sh
# Makes a throwaway CA and a certificate for imap.example.test and this
# container's addresses (so that clients connecting by address verify it with
# the CA), then runs Dovecot in the foreground. The CA's key is deleted at
# once; clients fetch /etc/dovecot/mailflow/ca.pem to trust it.
set -eu
cd /etc/dovecot/mailflow
san="DNS:imap.example.test"
for ip in $(hostname -I); do
    san="$san,IP:$ip"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=mailflow imap test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=imap.example.test \
    -keyout imap.key -out imap.csr 2>/dev/null
printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
    'extendedKeyUsage=serverAuth' "subjectAltName=$san" >imap.ext
openssl x509 -req -in imap.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile imap.ext -out imap.pem 2>/dev/null
rm -f ca.key imap.csr ca.srl
chmod 0644 ca.pem imap.pem
chmod 0600 imap.key
echo "mailflow-imap: certificate for $san" >&2
doveconf -n >/dev/null
exec /usr/sbin/dovecot -F
