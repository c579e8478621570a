-- For scripts/man-page: a link in a man page is its text; the target (a file
-- under docs/ or an anchor) means nothing there.
function Link(el)
  return el.content
end
