"""Generation detection from idioms, and label/code mismatch messages."""

from __future__ import annotations

import pytest

from bbjcoder.bbj import GENERATIONS, detect_generations, generation_mismatch

CHARACTER = 'PRINT \'CS\',@(10,5),"Menu"\nINPUT @(10,7),"Choice: ",c$\n'
VPRO5 = (
    'sysgui = unt\nopen (sysgui)"X0"\n'
    "print (sysgui)'WINDOW'(100,100,300,200,\"Demo\",$00010003$,$$)\n"
    "print (sysgui)'BUTTON'(1,10,10,80,25,\"OK\",$$)\nid = ctrl(sysgui,1,0)\n"
)
BBJ_GUI = (
    'sg! = BBjAPI().getSysGui()\nwnd! = sg!.addWindow(10,10,300,200,"Hi")\n'
    'wnd!.setCallback(wnd!.ON_CLOSE,"done")\nprocess_events\ndone: release\n'
)
DWC = (
    'wnd! = BBjAPI().getSysGui().addWindow(10,10,300,200,"Hi")\n'
    'btn! = wnd!.addButton(1,10,10,80,25,"OK")\nbtn!.setStyle("color","red")\n'
    'btn!.addClassName("primary")\nwm! = BBjAPI().getWebManager()\n'
)
UNIVERSAL = 'x = 1\nPRINT "total: ", x\nFOR i = 1 TO 3\nNEXT i\n'


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        (CHARACTER, {"character"}),
        (VPRO5, {"vpro5"}),
        (BBJ_GUI, {"bbj-gui", "dwc"}),
        (DWC, {"dwc"}),
        (UNIVERSAL, {"all"}),
        (CHARACTER + VPRO5, {"character", "vpro5"}),
    ],
    ids=["character", "vpro5", "bbj-gui", "dwc", "universal", "mixed"],
)
def test_detect_generations_from_idioms(src: str, expected: set[str]) -> None:
    assert detect_generations(src) == expected
    assert expected <= {*GENERATIONS, "all"}


def test_idioms_inside_strings_and_comments_do_not_count() -> None:
    src = "rem print (sysgui)'WINDOW'(1,2)\nmsg$ = \"use getWebManager() or @( later\"\n"
    assert detect_generations(src) == {"all"}


def test_object_variable_named_sysgui_is_not_vpro5() -> None:
    assert detect_generations("sysgui! = BBjAPI().getSysGui()\n") == {"bbj-gui", "dwc"}


def test_matching_or_universal_labels_are_not_mismatches() -> None:
    assert generation_mismatch(["dwc"], BBJ_GUI) is None
    assert generation_mismatch("bbj-gui", BBJ_GUI) is None
    assert generation_mismatch(["character"], UNIVERSAL) is None
    assert generation_mismatch(["all"], VPRO5) is None
    assert generation_mismatch([], DWC) is None


def test_contradicting_label_is_explained() -> None:
    message = generation_mismatch(["character"], DWC)
    assert message is not None
    assert "labelled character" in message and "dwc" in message and "getWebManager" in message
    assert generation_mismatch(["bbj-gui"], VPRO5) is not None
    assert generation_mismatch(["vpro5", "character"], BBJ_GUI) is not None
