"""English stop-words: the words that say nothing about what people are discussing.

Written for mentionwatch (so under the project's MIT licence, no third-party list copied): English function
words (articles, pronouns, auxiliaries and modals with their contractions, prepositions, conjunctions,
determiners, common adverbs, number words) and the filler of posts on the web (`http`, `amp`, `lol`, `thanks`).
Words are in their folded form (casefold), apostrophes as typed: `’` is taken as `'` before lookup.
"""

from __future__ import annotations

_LISTED = """
    a about above across after afterwards again against ago ah all almost alone along already also although
    always am among amongst an and another any anybody anyhow anyone anything anyway anyways anywhere are aren't
    around as aside at away back be became because become becomes becoming been before beforehand behind being
    below beside besides best better between beyond both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't done down during each either else elsewhere enough especially etc even ever every
    everybody everyone everything everywhere except far few first for former formerly from further furthermore
    get gets getting give given gives go goes going gone got gotten had hadn't has hasn't have haven't having he
    he'd he'll he's hello hence her here here's hers herself hey hi him himself his how how's however i i'd i'll
    i'm i've ie if in indeed instead into is isn't it it'd it'll it's its itself just keep kept know last later
    latter least less let let's like likely lot lots made make makes making many may maybe me meanwhile might
    mine more moreover most mostly much must mustn't my myself namely near nearly need needs neither never
    nevertheless new next no nobody none noone nor not nothing now nowhere of off often oh ok okay old on once
    one ones only onto or other others otherwise ought our ours ourselves out over overall own per perhaps
    please put quite rather really right said same say says see seem seemed seeming seems seen several shall
    shan't she she'd she'll she's should shouldn't since so some somebody somehow someone something sometime
    sometimes somewhat somewhere soon still such sure take taken than thank thanks that that's the their theirs
    them themselves then thence there there's thereafter thereby therefore therein these they they'd they'll
    they're they've thing things think this those though through throughout thru thus to together too took
    toward towards try trying two three four five six seven eight nine ten under unless unlike until up upon us
    use used using very via vs want wants was wasn't way we we'd we'll we're we've well went were weren't what
    what's whatever when whenever where where's whereas whereby wherein whether which while who who's whoever
    whole whom whose why will with within without won't would wouldn't yeah yes yet you you'd you'll you're
    you've your yours yourself yourselves
    amp com http https org net www html htm lol lmao imo imho tbh btw fyi pls plz via rt edit
    """
STOP_WORDS = frozenset(_LISTED.split())
