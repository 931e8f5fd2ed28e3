# Writes OUT: one `{"name", R"(...)"}` entry per dashboard file, included by web_assets.cc.
string(REPLACE "," ";" FILES "${FILES}")
set(content "")
foreach(f IN LISTS FILES)
  file(READ ${WEB_DIR}/${f} body)
  string(APPEND content "{\"${f}\", R\"STALLSCOPE_WEB(${body})STALLSCOPE_WEB\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "${content}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
