eval/* innocent */(code);
process /* a */ . /* b */ binding('fs');
