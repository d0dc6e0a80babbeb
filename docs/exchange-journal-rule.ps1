# Exchange mail-flow (transport) rules keyed on Postvagt's X-Postvagt-Journal header.
# Outlook hides X- headers from staff; these rules make "must be journaled" visible and route
# a copy to the case system. Adjust the names and addresses.
#
# Where to run it:
# - Exchange Online: PowerShell 7 or Windows PowerShell 5.1 with the ExchangeOnlineManagement
#   module, after Connect-ExchangeOnline (below). The cmdlet is New-TransportRule there too.
# - Exchange Server: the Exchange Management Shell (drop the two connect lines).
# Every cmdlet and parameter used here is documented for Exchange Online and for Exchange
# Server 2013 and later (Microsoft's ExchangePowerShell reference). The script was checked
# against that reference only: no PowerShell or Exchange was at hand where it was written.
#
# This file is saved as UTF-8 with a byte-order mark: Windows PowerShell 5.1 reads a .ps1
# without one in the ANSI code page and would turn "påkrævet" and "§" into mojibake in the
# rule names. Keep the mark when editing.
#
# The header's grammar (shared/DESIGN.md):
#   X-Postvagt-Journal: required; id=<uuid>; reasons=<ENTITY>[,<ENTITY>...]
# Postvagt strips any X-Postvagt-* header a sender put in, so the rules can trust it — as
# long as every message from outside reaches Exchange through Postvagt. In Exchange Online
# that is the Partner inbound connector with RestrictDomainsToCertificate (README, "In front
# of Exchange Online"); without it anyone can send straight to
# <tenant>.mail.protection.outlook.com with a header of their own.

# Exchange Online only (once: Install-Module ExchangeOnlineManagement -Scope CurrentUser):
# Connect-ExchangeOnline -UserPrincipalName admin@kommune.dk

# 1. Mark the message for staff: a subject prefix, and the Keywords header, which Exchange
#    turns into an Outlook category when it stores the message ([MS-OXCMAIL]: Keywords is
#    PidNameKeywords, the categories).
New-TransportRule -Name "Postvagt: journalisering påkrævet" `
  -HeaderMatchesMessageHeader "X-Postvagt-Journal" `
  -HeaderMatchesPatterns "^required;" `
  -PrependSubject "[Journaliseres] " `
  -SetHeaderName "Keywords" -SetHeaderValue "Journaliseres" `
  -Comments "Postvagt flagged personal data that must be journaled (offentlighedsloven § 15)."

# 2. Optionally: a copy to the case system's import mailbox (ESDH), for one shared mailbox.
#    Use this rule or Postvagt's own copy (journal_mailbox with copy_to_journal: true in the
#    policy), not both: with both, the case system gets every flagged mail twice.
New-TransportRule -Name "Postvagt: kopi til ESDH (borgerservice)" `
  -SentTo "borgerservice@kommune.dk" `
  -HeaderMatchesMessageHeader "X-Postvagt-Journal" `
  -HeaderMatchesPatterns "^required;" `
  -BlindCopyTo "esdh-import@kommune.dk"

# 3. Held mail never reaches Exchange (it waits in Postvagt's quarantine); released mail
#    carries "X-Postvagt-Verdict: deliver; rule=released-by-staff" and is matched by rule 1.
#
# Not used, on purpose: -SetSCL -1. Postvagt is no spam filter; Exchange Online Protection
# still filters the mail (with Enhanced Filtering for Connectors it sees the real sender), and
# Microsoft says to disable SCL -1 rules for a connector's mail once Enhanced Filtering is on.
# -ApplyClassification exists in Exchange Online too, but needs a message classification made
# first (New-MessageClassification, also there); the Keywords category above needs nothing more.
#
# Note: -PrependSubject changes what the recipient sees, not the message Postvagt delivered
# (signatures were checked before). Leave rule 1's -PrependSubject out where subjects must stay
# untouched and rely on the Keywords category or the staff page instead.
