process['binding']('fs');
