"""Commonly impersonated brands, as data for the lookalike heuristics (engines.web.lookalike).

Every name here is in canonical form: lowercase ASCII, a registrable domain (eTLD+1 under the
Public Suffix List, ICANN and private sections) unless said otherwise. The lists are small on
purpose: they name the brands that phishing kits and lookalike registrations target most
(payments, banks, mail and office suites, social networks, parcel carriers, crypto wallets and
exchanges, game stores). An organisation adds its own domains through the policy.
"""

from __future__ import annotations

BUILTIN_BRANDS: tuple[str, ...] = (
    # payments, banks and tax authorities
    "paypal.com",
    "venmo.com",
    "cash.app",
    "zellepay.com",
    "stripe.com",
    "mastercard.com",
    "visa.com",
    "americanexpress.com",
    "chase.com",
    "wellsfargo.com",
    "bankofamerica.com",
    "citibank.com",
    "capitalone.com",
    "usbank.com",
    "hsbc.com",
    "barclays.co.uk",
    "santander.com",
    "revolut.com",
    "intuit.com",
    "irs.gov",
    "hmrc.gov.uk",
    # Microsoft
    "microsoft.com",
    "microsoftonline.com",
    "live.com",
    "office.com",
    "office365.com",
    "outlook.com",
    "hotmail.com",
    "sharepoint.com",
    "onedrive.com",
    "skype.com",
    "xbox.com",
    # Apple and Google
    "apple.com",
    "icloud.com",
    "google.com",
    "gmail.com",
    "youtube.com",
    # Meta and other social networks and messengers
    "facebook.com",
    "instagram.com",
    "whatsapp.com",
    "messenger.com",
    "linkedin.com",
    "twitter.com",
    "x.com",
    "tiktok.com",
    "snapchat.com",
    "telegram.org",
    "discord.com",
    # shopping, travel and streaming
    "amazon.com",
    "ebay.com",
    "walmart.com",
    "alibaba.com",
    "aliexpress.com",
    "shopify.com",
    "booking.com",
    "airbnb.com",
    "netflix.com",
    "spotify.com",
    # mail, documents and work tools
    "yahoo.com",
    "aol.com",
    "dropbox.com",
    "docusign.com",
    "docusign.net",
    "adobe.com",
    "wetransfer.com",
    "zoom.us",
    "slack.com",
    "notion.so",
    "atlassian.com",
    "github.com",
    "salesforce.com",
    "okta.com",
    # parcel carriers and telecoms
    "dhl.com",
    "fedex.com",
    "ups.com",
    "usps.com",
    "royalmail.com",
    "att.com",
    "verizon.com",
    # crypto exchanges and wallets
    "coinbase.com",
    "binance.com",
    "kraken.com",
    "blockchain.com",
    "metamask.io",
    "ledger.com",
    "trezor.io",
    "opensea.io",
    "myetherwallet.com",
    "uniswap.org",
    # game stores
    "steamcommunity.com",
    "steampowered.com",
    "roblox.com",
    "epicgames.com",
    "battle.net",
)
"""Registrable domains of commonly impersonated brands."""

COMMON_WORD_LABELS: frozenset[str] = frozenset(
    {
        "adobe",
        "apple",
        "battle",
        "blockchain",
        "booking",
        "cash",
        "chase",
        "discord",
        "ledger",
        "live",
        "messenger",
        "notion",
        "office",
        "outlook",
        "slack",
        "stripe",
        "telegram",
        "visa",
        "zoom",
    }
)
"""Brand labels that are everyday words (or whose one-edit neighbours mostly are).

For these the edit-distance heuristic stays silent ("chose" is one edit from "chase", "apply"
from "apple") and the embedding heuristic wants more evidence than the word alone: a lure word
("apple-id-verify") or the brand's suffix right after it ("apple-com-shop"). Labels shorter than
five characters are treated the same way without being listed.
"""

NEAR_WORDS: frozenset[str] = frozenset(
    {
        "atwitter",  # twitter
        "barclay",  # barclays
        "cloud",  # icloud
        "email",  # gmail
        "finance",  # binance
        "gail",  # gmail
        "goggle",  # google
        "grail",  # gmail
        "inuit",  # intuit
        "mail",  # gmail
        "papal",  # paypal
        "revolt",  # revolut
        "skye",  # skype
        "titter",  # twitter
        "tremor",  # trezor
        "trevor",  # trezor
        "twister",  # twitter
        "twitted",  # twitter
        "venom",  # venmo
    }
)
"""Everyday words one edit away from a distinctive brand label (found with a word list when
the brand list was written). A candidate label equal to one of them is not reported by the
edit-distance heuristic: email.com is not a typo of gmail.com."""

BRAND_OWNED: tuple[str, ...] = (
    "amazon-adsystem.com",  # Amazon's advertising
    "apple.co",  # Apple's short links
    "google-analytics.com",
    "icloud-content.com",  # iCloud downloads
    "media-amazon.com",  # Amazon's images and media
    "paypal-community.com",
    "paypal-objects.com",  # PayPal's static content
    "ssl-images-amazon.com",
    "youtube-nocookie.com",  # YouTube's privacy-enhanced embeds
)
"""Domains of the built-in brands that the heuristics would otherwise flag (they put a brand's
name beside another word, or sit one edit from the brand's domain). Known good whenever the
built-in brands are in use."""

CDN_INFRASTRUCTURE: tuple[str, ...] = (
    "akadns.net",
    "akamaiedge.net",
    "akamaihd.net",
    "cdn.cloudflare.net",  # www.example.com.cdn.cloudflare.net
    "edgekey.net",
    "edgesuite.net",
)
"""Content-delivery domains whose host names embed their customers' domains by construction
(www.paypal.com.edgekey.net is a CNAME target of www.paypal.com). They and their subdomains are
always known good."""

LURE_WORDS: frozenset[str] = frozenset(
    {
        "2fa",
        "access",
        "account",
        "accounts",
        "airdrop",
        "alert",
        "auth",
        "authenticate",
        "authentication",
        "bank",
        "banking",
        "billing",
        "bonus",
        "claim",
        "confirm",
        "confirmation",
        "customer",
        "customs",
        "delivery",
        "giveaway",
        "helpdesk",
        "id",
        "identity",
        "invoice",
        "join",
        "locked",
        "login",
        "logon",
        "mfa",
        "meeting",
        "notice",
        "notification",
        "otp",
        "parcel",
        "password",
        "pay",
        "payment",
        "payments",
        "portal",
        "recover",
        "recovery",
        "redelivery",
        "refund",
        "reset",
        "reward",
        "rewards",
        "secure",
        "security",
        "service",
        "shipment",
        "signin",
        "signon",
        "sso",
        "support",
        "suspended",
        "track",
        "tracking",
        "unlock",
        "update",
        "validate",
        "validation",
        "verification",
        "verify",
        "wallet",
        "webmail",
    }
)
"""Words that phishing host names put beside a brand's name ("apple-id-verify",
"ups-parcel-redelivery"). They supply the extra evidence that common-word and short brand names
need before the embedding heuristic reports them."""
