"""HyperKitty 1.3.7 (Debian bookworm) answers a private list's messages and
threads to anyone through its JSON API: EmailDetail and ThreadDetail
override get_object() without calling check_object_permissions(), so their
IsMailingListPublicOrIsMember permission is never asked. The HTML pages do
check. This adds the call, as a careful operator would patch it; mailflow's
expect_private (scenarios/listconf/private-archive.toml) finds the leak
without it."""
import pathlib
import sys

API = pathlib.Path("/usr/lib/python3/dist-packages/hyperkitty/api")
for name, var in (("email.py", "email"), ("thread.py", "thread")):
    path = API / name
    text = path.read_text()
    old = f"            )\n        return {var}\n"
    new = f"            )\n        self.check_object_permissions(self.request, {var})\n        return {var}\n"
    if new in text:
        continue
    if text.count(old) != 1:
        sys.exit(f"{path}: the get_object() to patch was not found; HyperKitty changed")
    path.write_text(text.replace(old, new))
