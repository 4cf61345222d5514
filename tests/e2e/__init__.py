"""The end-to-end suites. They read dxctl's English output, and dxctl
speaks the locale's language (LC_ALL, LC_MESSAGES, LANG): the suites run in
C.UTF-8 whatever the machine's locale, and a test of the Vietnamese output
sets its own locale for the process it starts."""
import os

os.environ["LC_ALL"] = "C.UTF-8"
