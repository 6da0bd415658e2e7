// Sourdine: send the feeds it filters through its proxy, everything else direct.
function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  var hosts = {"api.bsky.app": 1, "api.twitter.com": 1, "api.x.com": 1, "bsky.social": 1, "framapiaf.org": 1, "mamot.fr": 1, "mastodon.online": 1, "mastodon.social": 1, "mastodon.xyz": 1, "mstdn.social": 1, "piaille.fr": 1, "public.api.bsky.app": 1, "streaming.mastodon.social": 1, "twitter.com": 1, "x.com": 1};
  var suffixes = [".host.bsky.network"];
  if (hosts.hasOwnProperty(host)) return "PROXY 127.0.0.1:51191; DIRECT";
  for (var i = 0; i < suffixes.length; i++) {
    if (dnsDomainIs(host, suffixes[i])) return "PROXY 127.0.0.1:51191; DIRECT";
  }
  return "DIRECT";
}
