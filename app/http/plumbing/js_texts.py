"""The script's own words (frontend/static/js: `R.t(key)`), sent in each page's language in
<meta name="roster-texts"> (base.html): app.js holds no text of its own."""

from app.core.i18n import N_, _

TEXTS = {
    "confirm": N_("Confirm"),
    "cancel": N_("Cancel"),
    "linkCopied": N_("Link copied to the clipboard."),
    "linkNotCopied": N_("The link could not be copied: select it and copy it yourself."),
    "notAnswering": N_(
        "Roster is not answering right now; nothing was changed. Try again in a moment."
    ),
    "serverFault": N_(
        "Something went wrong on the server; nothing was changed. Try again in a moment."
    ),
    "tooSlow": N_("Roster took too long to answer. Check whether it was done before trying again."),
    "unreachable": N_("Roster could not be reached: check your connection. Nothing was changed."),
    "notChanged": N_("Something went wrong; the page was not changed. Try again in a moment."),
    "keptForm": N_(
        "What you typed before your session ended is back in the form: check it and send it again."
    ),
    "dismiss": N_("Dismiss message"),
    "retry": N_("Retry"),
    "undo": N_("Undo"),
    "passkeysUnavailable": N_("Passkeys are not available now. Try again."),
    "passkeyCancelled": N_("The passkey request was cancelled or timed out."),
    "passkeyKnown": N_("This passkey is already registered."),
    "passkeyFailed": N_("The passkey could not be used."),
    "codesCopied": N_("Recovery codes copied."),
}


def js_texts() -> dict[str, str]:
    return {key: _(text) for key, text in TEXTS.items()}
