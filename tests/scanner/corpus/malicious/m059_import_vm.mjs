import vm from 'vm';
new vm.Script(src).runInThisContext();
