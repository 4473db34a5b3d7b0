const later = () => console.log('done');
setTimeout(later, 0);
