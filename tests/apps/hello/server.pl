# A tiny HTTP server for berth's tests: perl-base is in debian:bookworm-slim,
# so the image builds without a package download.
use strict;
use warnings;
use IO::Socket::INET;

my $port = $ENV{PORT} || 5000;
my $server = IO::Socket::INET->new(
    LocalPort => $port, Listen => 128, ReuseAddr => 1, Proto => 'tcp',
) or die "cannot listen on $port: $!";
$| = 1;
print "listening on $port\n";
$SIG{TERM} = sub { print "stopping\n"; exit 0 };
while (my $client = $server->accept) {
    my $request = <$client> // '';
    while (my $line = <$client>) { last if $line =~ /^\r?\n$/; }
    my ($path) = $request =~ m{^\w+ (\S+)};
    my $body = ($ENV{MESSAGE} // 'hello') . "\n";
    $body = "$ENV{DYNO}\n" if defined $path && $path eq '/dyno';
    print "GET $path\n" if defined $path;
    print $client "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
    close $client;
}
