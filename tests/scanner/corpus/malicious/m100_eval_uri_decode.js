eval(decodeURIComponent('%61%6c%65%72%74%28%31%29'));
