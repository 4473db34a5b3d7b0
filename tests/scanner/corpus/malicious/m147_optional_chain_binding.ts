const b = process?.['binding']?.('fs');
export default b;
