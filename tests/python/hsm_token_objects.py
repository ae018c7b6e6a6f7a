"""Lists a PKCS#11 token's objects with PyKCS11 (a client of its own, not the key core's): each
object's label and class, CKA_SENSITIVE and CKA_EXTRACTABLE for secret and private keys, and
whether C_GetAttributeValue of CKA_VALUE (the key itself) was refused. MODULE, TOKEN (label) and PIN_FILE name
the token. Run by tests/it/hsm.rs. Prints one JSON list."""
import json
import os

import PyKCS11

lib = PyKCS11.PyKCS11Lib()
lib.load(os.environ["MODULE"])
slot = next(s for s in lib.getSlotList(tokenPresent=True)
            if lib.getTokenInfo(s).label.strip() == os.environ["TOKEN"])
session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
with open(os.environ["PIN_FILE"]) as f:
    session.login(f.read().strip())

classes = {PyKCS11.CKO_SECRET_KEY: "secret", PyKCS11.CKO_PRIVATE_KEY: "private",
           PyKCS11.CKO_PUBLIC_KEY: "public"}
found = []
for handle in session.findObjects([]):
    label, cls = session.getAttributeValue(handle, [PyKCS11.CKA_LABEL, PyKCS11.CKA_CLASS])
    entry = {"label": label, "class": classes.get(cls, str(cls))}
    if cls in (PyKCS11.CKO_SECRET_KEY, PyKCS11.CKO_PRIVATE_KEY):
        sensitive, extractable = session.getAttributeValue(
            handle, [PyKCS11.CKA_SENSITIVE, PyKCS11.CKA_EXTRACTABLE])
        entry["sensitive"] = bool(sensitive)
        entry["extractable"] = bool(extractable)
        # CKA_VALUE is the key itself: an AES key's bytes, an EC private key's scalar.
        try:
            value = session.getAttributeValue(handle, [PyKCS11.CKA_VALUE], allAsBinary=True)[0]
            entry["value"] = "refused" if value is None else "READABLE"
        except PyKCS11.PyKCS11Error as e:
            entry["value"] = "refused" if e.value == PyKCS11.CKR_ATTRIBUTE_SENSITIVE else f"error {e}"
    found.append(entry)
session.logout()
print(json.dumps(found))
