#!/usr/bin/env python3
"""A MULTIPLE selection request (ICCCM 2.6.2), as clipboard managers make: asks the CLIPBOARD
owner for several targets at once and prints, as JSON, what came back for each (null when the
owner refused it). A test peer for the clipboard guard; needs python3-xlib."""
import json
import sys
import time

from Xlib import X, Xatom, display

targets = sys.argv[1:] or ["TARGETS", "UTF8_STRING", "text/plain"]
d = display.Display()
window = d.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
pair_type = d.intern_atom("ATOM_PAIR")
multiple = d.intern_atom("MULTIPLE")
request_property = d.intern_atom("BULWARK_TEST_MULTIPLE")
pairs = []
for index, name in enumerate(targets):
    pairs += [d.intern_atom(name), d.intern_atom("BULWARK_TEST_P%d" % index)]
window.change_property(request_property, pair_type, 32, pairs)
window.convert_selection(d.intern_atom("CLIPBOARD"), multiple, request_property, X.CurrentTime)
d.flush()
deadline = time.time() + 10
while time.time() < deadline:
    if d.pending_events() == 0:
        time.sleep(0.01)
        continue
    event = d.next_event()
    if event.type != X.SelectionNotify:
        continue
    if event.property == X.NONE:
        print(json.dumps({"refused": True}))
        sys.exit(1)
    answered = window.get_full_property(request_property, X.AnyPropertyType).value
    result = {}
    for index, name in enumerate(targets):
        if answered[2 * index + 1] == X.NONE:
            result[name] = None
            continue
        value = window.get_full_property(d.intern_atom("BULWARK_TEST_P%d" % index), X.AnyPropertyType)
        if value is None:
            result[name] = None
        elif value.format == 8:
            result[name] = bytes(value.value).decode("utf-8", "replace")
        else:
            result[name] = sorted(d.get_atom_name(atom) for atom in value.value)
    print(json.dumps(result))
    sys.exit(0)
print(json.dumps({"timeout": True}))
sys.exit(2)
