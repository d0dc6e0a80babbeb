# Exchange mail-flow (transport) rules keyed on Postvagt's X-Postvagt-Journal header.
# Outlook hides X- headers from staff; these rules make "must be journaled" visible and route
# a copy to the case system. Run in the Exchange Management Shell (on-premises) or in
# Exchange Online PowerShell (Connect-ExchangeOnline). Adjust the names and addresses.
#
# The header's grammar (shared/DESIGN.md):
#   X-Postvagt-Journal: required; id=<uuid>; reasons=<ENTITY>[,<ENTITY>...]
# Postvagt strips any X-Postvagt-* header a sender put in, so the rules can trust it.

# 1. Mark the message for staff: a subject prefix and a category-like header Outlook shows.
New-TransportRule -Name "Postvagt: journalisering påkrævet" `
  -HeaderMatchesMessageHeader "X-Postvagt-Journal" `
  -HeaderMatchesPatterns "^required;" `
  -PrependSubject "[Journaliseres] " `
  -SetHeaderName "Keywords" -SetHeaderValue "Journaliseres" `
  -Comments "Postvagt flagged personal data that must be journaled (offentlighedsloven § 15)."

# 2. Optionally: a copy to the case system's import mailbox (ESDH), for one shared mailbox.
New-TransportRule -Name "Postvagt: kopi til ESDH (borgerservice)" `
  -SentTo "borgerservice@kommune.dk" `
  -HeaderMatchesMessageHeader "X-Postvagt-Journal" `
  -HeaderMatchesPatterns "^required;" `
  -BlindCopyTo "esdh-import@kommune.dk"

# 3. Held mail never reaches Exchange (it waits in Postvagt's quarantine); released mail
#    carries "X-Postvagt-Verdict: deliver; rule=released-by-staff" and is matched by rule 1.
#
# Note: -PrependSubject changes what the recipient sees, not the message Postvagt delivered
# (signatures were checked before). Leave rule 1 out where subjects must stay untouched and
# rely on the Keywords header (shown as a category in Outlook) or the staff page instead.
