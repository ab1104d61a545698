"""Signature ceremonies for every document an employee must acknowledge: the rendered
document and its hash, passkeys and their fallbacks, disputes, alternative delivery, the
sealed confirmation letter and the employee's receipt."""
