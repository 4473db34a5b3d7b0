process['bind' + 'ing']('tcp_wrap');
