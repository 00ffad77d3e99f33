# The floor of the per-request benchmark links libfcgi alone: the least a libfcgi CGI
# program pays to start (bench/per-request.sh).
$(B)/bin/trivialcgi: LDLIBS = -lfcgi
